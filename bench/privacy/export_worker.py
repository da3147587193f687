"""`python -m bench.privacy.export_worker USER_ID OUT_PATH`: one export, in a process of its own.

So that the peak RSS is the export's alone (the benchmark process holds the rows it built).
Sets Django up in the data folder of the environment it is given, measures its own
baseline (after setup and the imports, before exporting), then calls ``write_export`` and
prints one JSON line: elapsed seconds, the baseline and the peak, the RSS sampled every
50 ms and when each stage of the export ended.

The peak is the kernel's high-water mark of this process's memory (``VmHWM``), not
``getrusage().ru_maxrss``: Linux carries the parent's high-water mark into a child across
fork and exec, so ``ru_maxrss`` here starts at the benchmark process's size (263 MB after
building the account) whatever the export does. Both are printed.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

SAMPLE_SECONDS = 0.05


def rss_mb() -> float:
    """Resident memory now (the second field of statm is resident pages)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's own peak resident memory (its address space's high-water mark)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


def ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


class Sampler(threading.Thread):
    def __init__(self, started: float) -> None:
        super().__init__(daemon=True)
        self.started = started
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            self.samples.append((round(time.perf_counter() - self.started, 3), round(rss_mb(), 1)))


class Stages:
    """Stands in for the job context: ``write_export`` reports each stage through it."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.ended: list[dict[str, Any]] = []

    def check_cancelled(self) -> None:
        pass

    def progress(self, percent: int, text: str) -> None:
        at = round(time.perf_counter() - self.started, 3)
        self.ended.append({"stage": text, "at_seconds": at, "rss_mb": round(rss_mb(), 1)})


def main(argv: list[str]) -> int:
    user_id, out = argv
    from bench.privacy.offline import forbid_network

    forbid_network()
    import django

    django.setup()
    from mailpanel.accounts.models import User
    from mailpanel.jobs.context import JobContext
    from mailpanel.privacy.exports import write_export

    user = User.objects.get(pk=int(user_id))
    baseline = {
        "peak": peak_rss_mb(),
        "now": rss_mb(),
        "ru_maxrss": ru_maxrss_mb(),
    }
    started = time.perf_counter()
    sampler, stages = Sampler(started), Stages(started)
    sampler.start()
    write_export(user, Path(out), cast(JobContext, stages))
    elapsed = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    result = {
        "export_seconds": round(elapsed, 2),
        "export_peak_rss_mb": round(peak_rss_mb(), 1),
        "worker_baseline_rss_mb": round(baseline["peak"], 1),
        "worker_baseline_rss_now_mb": round(baseline["now"], 1),
        "worker_ru_maxrss_before_mb": round(baseline["ru_maxrss"], 1),
        "worker_ru_maxrss_after_mb": round(ru_maxrss_mb(), 1),
        "stages": stages.ended,
        "rss_samples": sampler.samples,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
