"""`python -m bench.notices.send_worker INCIDENT_ID CONNECTIONS`: the sending, in a process
of its own.

So that the peak RSS is the sending's alone (the benchmark process built 10,000 users).
Sets Django up in the data folder of the environment it is given, then runs
``send_notices`` as the huey task would and prints one JSON line: seconds, notices sent,
its baseline and peak resident memory (``VmHWM``, this process's own high-water mark: see
bench/privacy/export_worker.py for why not ``ru_maxrss``) and the CPU time it used, which
is the panel's own cost (the rest of the wall time is waiting for the receiver).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from bench.privacy.export_worker import peak_rss_mb, rss_mb


def main(argv: list[str]) -> int:
    incident_id, connections = argv
    from bench.notices.peers import loopback_only

    loopback_only()
    import django

    django.setup()
    from mailpanel.privacy.breach import send_notices

    baseline = {"peak": peak_rss_mb(), "now": rss_mb()}
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    sent = send_notices(incident_id, connections=int(connections))
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    result = {
        "worker_seconds": round(elapsed, 2),
        "worker_sent": sent,
        "worker_cpu_seconds": round(cpu, 2),
        "worker_cpu_ms_per_notice": round(1000 * cpu / max(sent, 1), 2),
        "worker_peak_rss_mb": round(peak_rss_mb(), 1),
        "worker_baseline_rss_mb": round(baseline["peak"], 1),
        "worker_rss_before_mb": round(baseline["now"], 1),
    }
    print(json.dumps(result))
    return 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
