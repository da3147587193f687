"""Fleet health check on 1, 10 and 30 lab hosts: the panel against Ansible and pyinfra.

The panel's time is what its user waits for: from the fleet run being requested to its
last result stored, with the worker already running. Cold: a fresh worker (new SSH
connections); warm: the next run, while the worker still holds its connections. The
peers' time is their command's wall time. Same hosts, same run, median of 3.

    make bench-fleet        (needs root: it starts the lab)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import median, plot_series, write_json
from bench.fleet.panel import PanelUnderTest
from bench.fleet.peers import run_ansible, run_pyinfra

HOST_COUNTS = (1, 10, 30)
REPEATS = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet")
    parser.add_argument("--hosts", default=",".join(map(str, HOST_COUNTS)))
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--panel-only", action="store_true", help="skip Ansible and pyinfra")
    opts = parser.parse_args(argv)
    counts = [int(n) for n in opts.hosts.split(",")]
    from lab.lab import Lab
    from lab.lock import hold_machine_lock

    hold_machine_lock()
    lab = Lab()
    lab.up(max(counts), flavour="mail", services=True, peers=False)
    # The panel's own lookups (PTR in the facts) go to the lab DNS, never anywhere else.
    os.environ["MAILPANEL_DNS_RESOLVERS"] = lab.dns_address
    try:
        with tempfile.TemporaryDirectory(prefix="mailpanel-bench-") as tmp:
            results = measure(lab, counts, opts.repeats, Path(tmp), not opts.panel_only)
    finally:
        lab.down()
    report(results, counts)
    return 0


def measure(
    lab: Any, counts: list[int], repeats: int, tmp: Path, peers: bool = True
) -> dict[str, Any]:
    panel = PanelUnderTest(tmp / "panel", lab.hosts)
    panel.start()
    per_count: dict[str, dict[str, float]] = {}
    try:
        for count in counts:
            hosts = lab.hosts[:count]
            samples: dict[str, list[float]] = {
                k: [] for k in ("panel_cold", "panel_warm", "ansible", "pyinfra")
            }
            for _ in range(repeats):
                panel.restart_worker()
                samples["panel_cold"].append(panel.fleet_health(count))
                samples["panel_warm"].append(panel.fleet_health(count))
                if peers:
                    samples["ansible"].append(run_ansible(hosts, tmp / "ansible"))
                    samples["pyinfra"].append(run_pyinfra(hosts, tmp / "pyinfra"))
            per_count[str(count)] = {k: round(median(v), 3) for k, v in samples.items() if v}
            print(f"{count:>3} hosts: {per_count[str(count)]}", flush=True)
        noop = panel.converge_noop()
    finally:
        panel.stop()
    return {
        "hosts": per_count,
        "converge_noop_s": round(noop, 3),
        "repeats": repeats,
        "cpus": os.cpu_count(),
    }


def report(results: dict[str, Any], counts: list[int]) -> None:
    if "ansible" not in results["hosts"][str(counts[-1])]:
        print(results)  # a panel-only run is for profiling; it does not replace the results
        return
    path = write_json("fleet", results)
    keys = ("panel_cold", "panel_warm", "ansible", "pyinfra")
    series = {k: [results["hosts"][str(n)][k] for n in counts] for k in keys}
    plot_series("fleet", "Fleet health check (5 commands per host)", "lab hosts", counts, series)
    top = results["hosts"][str(counts[-1])]
    print(f"\nwritten {path}")
    print(
        f"at {counts[-1]} hosts: panel cold {top['panel_cold']} s "
        f"({top['ansible'] / top['panel_cold']:.1f}x faster than Ansible, "
        f"{top['pyinfra'] / top['panel_cold']:.1f}x faster than pyinfra), "
        f"warm {top['panel_warm']} s; converge no-op {results['converge_noop_s']} s"
    )


if __name__ == "__main__":
    sys.exit(main())
