"""The export (in a worker process of its own) and the deletion of the big account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from bench.privacy.statements import StatementLog
from mailpanel.accounts.models import User
from mailpanel.privacy.deletion import request_deletion, run_deletion
from mailpanel.privacy.registry import holdings

REPO = Path(__file__).resolve().parents[2]


def export(user: User, out: Path) -> dict[str, Any]:
    """``write_export`` of ``user`` to ``out`` in `python -m bench.privacy.export_worker`."""
    connection.close()  # SQLite: nothing of ours is open while the worker reads
    done = subprocess.run(
        [sys.executable, "-m", "bench.privacy.export_worker", str(user.pk), str(out)],
        env=dict(os.environ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the export worker failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["export_zip_mb"] = round(out.stat().st_size / 2**20, 2)
    result["zip"] = _contents(out)
    return result


def _contents(path: Path) -> dict[str, Any]:
    """What the ZIP holds, to check the export is whole: entries, job logs, their lines."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        logs = [i for i in infos if i.filename.startswith("job-logs/")]
        lines = sum(zf.read(i).count(b"\n") for i in logs)
        data_json = next(i for i in infos if i.filename == "data.json")
    return {
        "entries": len(infos),
        "job_log_files": len(logs),
        "job_log_lines": lines,
        "data_json_mb": round(data_json.file_size / 2**20, 2),
        "uncompressed_mb": round(sum(i.file_size for i in infos) / 2**20, 2),
    }


def deletion(user: User) -> dict[str, Any]:
    """``request_deletion`` then ``run_deletion``, here and now, with every statement tallied."""
    log = StatementLog()
    with connection.execute_wrapper(log):
        started = time.perf_counter()
        request_deletion(user)
        requested = time.perf_counter()
        removed = run_deletion(user.pk)
        finished = time.perf_counter()
    left = {h.name: n for h in holdings() if (n := h.rows_of(user.pk).count())}
    return {
        "delete_seconds": round(finished - started, 2),
        "delete_request_seconds": round(requested - started, 3),
        "delete_run_seconds": round(finished - requested, 2),
        "delete_rows_removed": removed,
        "delete_batch_size": settings.PURGE_BATCH_SIZE,
        "delete_statements": log.statements(),
        "delete_slowest_statements": log.slowest(8),
        "delete_rows_left": left,
        "delete_account_gone": not User.objects.filter(pk=user.pk).exists(),
        "delete_confirmation_mailed": _outbox_files() > 0,
    }


def _outbox_files() -> int:
    outbox = Path(settings.EMAIL_FILE_PATH)
    return len(list(outbox.iterdir())) if outbox.is_dir() else 0
