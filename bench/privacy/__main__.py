"""`python -m bench.privacy`: export, deletion and key rotation of the privacy work, at scale.

Measured, on SQLite in a fresh data folder (embedded mode, no lab, no network: the
benchmark's sockets refuse to connect and mail goes to the file outbox):

- the export of one big account (200 servers, 2,000 domains each with a sealed DKIM key,
  2,000 jobs with 200,000 log lines, 50,000 activity events): ``write_export`` in a worker
  process of its own, so its peak RSS is the export's alone, beside the same worker's
  baseline after Django's setup (both that process's own high-water mark, VmHWM: see
  ``export_worker``); its wall time and the ZIP's size;
- the deletion of that account: ``request_deletion`` then ``run_deletion``, synchronously;
- a master-key rotation over 10,000 users holding 13 sealed values each (an SSH key, a DNS
  token and an NVIDIA key; 10 DKIM keys on 10 domains on 1 server): rows written (the
  rowcount of every UPDATE/INSERT/DELETE) and seconds, with data keys (``add_key`` then
  ``reseal_all``) and the former way (every sealed value re-encrypted and saved).

One run each (the building takes longest; it is logged, not measured). Writes
bench/results/privacy.json and privacy.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.privacy.offline import embedded_environment, forbid_network

# Always a fresh folder: the benchmark deletes an account and rotates the vault's keys.
DATA_DIR = Path(tempfile.mkdtemp(prefix="mailpanel-bench-privacy-"))
embedded_environment(str(DATA_DIR))
forbid_network()

import django  # noqa: E402

django.setup()

from bench.common import machine, write_json  # noqa: E402
from bench.privacy import build, measure, rotation  # noqa: E402
from bench.privacy.plot import plot  # noqa: E402

ACCOUNT = {
    "servers": 200,
    "domains": 2_000,
    "jobs": 2_000,
    "job_log_lines": 200_000,
    "activity_events": 50_000,
}
ROTATION_USERS = 10_000
DOMAINS_EACH = 10
SECRETS = {"ssh_key_credentials": 1, "dns_token_credentials": 1, "nvidia_key_credentials": 1}
ROTATION_BATCH = 200
TARGETS = {
    "export_seconds": 60.0,
    "export_peak_rss_mb": 200.0,
    "delete_seconds": 60.0,
    "rotation_ratio_at_least": 10.0,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.privacy")
    parser.add_argument("--scale", type=float, default=1.0, help="every size times this")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    try:
        result = run(args.scale)
        write_json("privacy", result)
        plot(result)  # before the folder goes: the panel's log file is in it
    finally:
        if not args.keep:
            shutil.rmtree(DATA_DIR, ignore_errors=True)
    for name, value in headline(result).items():
        print(f"{name:<36} {value}")
    return 0 if all(result["targets_met"].values()) else 1


def run(scale: float) -> dict[str, Any]:
    from django.core.management import call_command

    load_at_start = round(os.getloadavg()[0], 2)
    call_command("migrate", "--no-input", "-v", "0")
    sizes = {name: max(int(n * scale), 1) for name, n in ACCOUNT.items()}
    users = max(int(ROTATION_USERS * scale), 1)
    key = build.rsa_key()

    started = time.perf_counter()
    user = build.big_account(key, sizes)
    built_account = time.perf_counter() - started
    print(f"built the account {sizes} in {built_account:.1f} s")

    exported = measure.export(user, DATA_DIR / "bench-export.zip")
    print(f"export: {exported['export_seconds']} s, {exported['export_peak_rss_mb']} MB peak")
    deleted = measure.deletion(user)
    print(f"delete: {deleted['delete_seconds']} s")

    started = time.perf_counter()
    build.population(users, key, DOMAINS_EACH)
    built_population = time.perf_counter() - started
    sealed = rotation.sealed_rows()
    print(f"built {users} users with {sealed} sealed rows in {built_population:.1f} s")
    data_keys = rotation.with_data_keys(ROTATION_BATCH)
    print(f"rotation with data keys: {data_keys['rows_written']} rows, {data_keys['seconds']} s")
    reencrypt = rotation.reencrypting_everything(ROTATION_BATCH)
    print(f"rotation re-encrypting: {reencrypt['rows_written']} rows, {reencrypt['seconds']} s")

    result: dict[str, Any] = {
        "benchmark": "privacy",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scale": scale,
        "account": sizes,
        "build_seconds": {
            "account": round(built_account, 1),
            "rotation_population": round(built_population, 1),
        },
        **_export_figures(exported),
        **deleted,
        "rotation_users": users,
        "secrets_per_user": sum(SECRETS.values()) + DOMAINS_EACH,
        "secrets_per_user_breakdown": SECRETS
        | {"dkim_keys": DOMAINS_EACH, "domains": DOMAINS_EACH, "servers": 1},
        "rotation_sealed_rows": sealed,
        "rotation_batch_size": ROTATION_BATCH,
        "rotation_rows_written_data_keys": data_keys["rows_written"],
        "rotation_rows_written_reencrypt": reencrypt["rows_written"],
        "rotation_seconds_data_keys": data_keys["seconds"],
        "rotation_seconds_reencrypt": reencrypt["seconds"],
        "rotation_ratio": round(reencrypt["rows_written"] / max(data_keys["rows_written"], 1), 1),
        "rotation_data_keys": data_keys,
        "rotation_reencrypt": reencrypt,
        "rotation_every_secret_opens_after": rotation.every_secret_opens(),
        "targets": TARGETS,
    }
    result["targets_met"] = targets_met(result)
    result["machine"] = machine(load_at_start)
    return result


def _export_figures(exported: dict[str, Any]) -> dict[str, Any]:
    growth = exported["export_peak_rss_mb"] - exported["worker_baseline_rss_mb"]
    return {
        "export_seconds": exported["export_seconds"],
        "export_peak_rss_mb": exported["export_peak_rss_mb"],
        "worker_baseline_rss_mb": exported["worker_baseline_rss_mb"],
        # The baseline is a peak too (VmHWM): setup may have held more than it holds now.
        "worker_rss_before_export_mb": exported["worker_baseline_rss_now_mb"],
        # getrusage's figure, which Linux makes start at the parent's size: not the export's.
        "worker_ru_maxrss_mb": {
            "before_export": exported["worker_ru_maxrss_before_mb"],
            "after_export": exported["worker_ru_maxrss_after_mb"],
        },
        "export_rss_growth_mb": round(growth, 1),
        "export_zip_mb": exported["export_zip_mb"],
        "export_zip": exported["zip"],
        "export_stages": exported["stages"],
        "export_rss_samples": exported["rss_samples"],
    }


def targets_met(result: dict[str, Any]) -> dict[str, bool]:
    return {
        "export_seconds": result["export_seconds"] < TARGETS["export_seconds"],
        "export_peak_rss_mb": result["export_peak_rss_mb"] < TARGETS["export_peak_rss_mb"],
        "delete_seconds": result["delete_seconds"] < TARGETS["delete_seconds"],
        "rotation_ratio": result["rotation_ratio"] >= TARGETS["rotation_ratio_at_least"],
    }


def headline(result: dict[str, Any]) -> dict[str, Any]:
    names = (
        "export_seconds",
        "export_peak_rss_mb",
        "worker_baseline_rss_mb",
        "export_rss_growth_mb",
        "export_zip_mb",
        "delete_seconds",
        "rotation_rows_written_data_keys",
        "rotation_rows_written_reencrypt",
        "rotation_seconds_data_keys",
        "rotation_seconds_reencrypt",
        "rotation_ratio",
    )
    return {name: result[name] for name in names} | {"targets_met": result["targets_met"]}


if __name__ == "__main__":
    raise SystemExit(main())
