"""`python -m bench.onboard`: from adding a bare server to a message that passes SPF, DKIM
and DMARC at the lab receiver, through the guided setup's own pages, timed per step.

Root only (it brings the lab up, with NAT so apt reaches deb.debian.org: the one path that
leaves the machine). Waits for the machine's lab lock like a test run, and always tears the
lab down. Writes bench/results/onboard.json and onboard.png.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpanel.settings")
os.environ.setdefault("MAILPANEL_DATA_DIR", tempfile.mkdtemp(prefix="mailpanel-bench-onboard-"))
os.environ.setdefault("MAILPANEL_ALLOWED_HOSTS", "testserver")

import django

django.setup()

from bench.common import plot_steps  # noqa: E402
from bench.onboard.steps import Onboarding  # noqa: E402
from lab.lab import Lab  # noqa: E402
from lab.lock import hold_machine_lock  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"
TARGET_S = 120.0


def main() -> None:
    from django.core.management import call_command

    call_command("migrate", "--no-input", "-v", "0")
    hold_machine_lock()
    lab = Lab()
    report: dict[str, Any] = {"target_seconds": TARGET_S}
    try:
        started = time.perf_counter()
        lab.up(0, flavour="mail", services=True, peers=True)
        (host,) = lab.add_hosts(1, flavour="bare")  # the customer's fresh VPS
        report["lab_seconds"] = round(time.perf_counter() - started, 1)
        run = Onboarding(lab, host)
        report.update(run.all())
    finally:
        lab.down()
    total = sum(step["seconds"] for step in report["steps"])
    report["total_seconds"] = round(total, 1)
    report["under_target"] = total < TARGET_S and report.get("verdicts") == {
        "spf": "pass",
        "dkim": "pass",
        "dmarc": "pass",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "onboard.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_steps(
        "onboard",
        f"Bare server to mail passing SPF, DKIM and DMARC: {report['total_seconds']} s",
        [(step["step"], step["seconds"]) for step in report["steps"]],
        TARGET_S,
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
