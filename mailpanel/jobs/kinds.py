"""Built-in job kinds. The self-test proves the whole pipe: queue, worker, live log."""

from __future__ import annotations

import os
import tempfile
import time

from django.conf import settings
from django.db import connection

from mailpanel.jobs.context import JobContext, JobFailed
from mailpanel.jobs.registry import job_kind

SELFTEST_STEPS = 5


@job_kind("selftest", "Self-test")
def selftest(ctx: JobContext) -> None:
    pause = float(str(ctx.params.get("pause", 0.6)))
    checks = [
        ("Database answers", _check_database),
        ("Data folder is writable", _check_data_dir),
        ("Worker clock ticks", lambda: time.sleep(pause)),
        ("Queue delivered this job", lambda: None),
        ("Log lines stream to the page", lambda: time.sleep(pause)),
    ]
    for index, (title, check) in enumerate(checks, start=1):
        with ctx.step(title):
            check()
            time.sleep(pause)
        ctx.progress(index * 100 // len(checks), title)
        if ctx.params.get("fail_at") == index:
            raise JobFailed(f"Self-test failed at step {index} as requested.")
    ctx.log("All checks passed.")
    ctx.progress(100, f"All {len(checks)} checks passed")  # not the last step's name


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise JobFailed("The database did not answer SELECT 1.")


def _check_data_dir() -> None:
    with tempfile.NamedTemporaryFile(dir=settings.DATA_DIR, prefix=".selftest-") as handle:
        handle.write(b"ok")
        handle.flush()
        os.fsync(handle.fileno())
