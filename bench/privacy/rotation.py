"""A master-key rotation over many users, with data keys and the former way, in rows written.

With data keys: ``add_key()`` then ``reseal_all()``, which rewraps one data key per user.
The former way, the baseline: ``add_key()`` then every sealed value opened and sealed again
and saved, in transactions of ``batch_size`` rows as the former rotation did.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connection, transaction

from bench.privacy.statements import StatementLog
from mailpanel.vault.rotation import add_key, pending, reseal_all
from mailpanel.vault.sealed import Sealed, sealed_models


def with_data_keys(batch_size: int) -> dict[str, Any]:
    log = StatementLog()
    with connection.execute_wrapper(log):
        started = time.perf_counter()
        add_key()
        result = reseal_all(batch_size=batch_size)
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows_written": log.rows_written(),
        "writes": log.writes_by_table(),
        "statements": log.statements(),
        "reported_resealed": result.resealed,
        "pending_after": pending(),
    }


def reencrypting_everything(batch_size: int) -> dict[str, Any]:
    log = StatementLog()
    with connection.execute_wrapper(log):
        started = time.perf_counter()
        add_key()
        for model in sealed_models():
            _reencrypt(model, batch_size)
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows_written": log.rows_written(),
        "writes": log.writes_by_table(),
        "statements": log.statements(),
    }


def _reencrypt(model: type[Sealed], batch_size: int) -> None:
    last: Any = None
    while True:
        with transaction.atomic():
            rows = model._default_manager.order_by("pk")
            batch = list((rows.filter(pk__gt=last) if last else rows)[:batch_size])
            for row in batch:
                row.seal(row.unseal())
                row.save(update_fields=["secret", "secret_key_id"])
        if len(batch) < batch_size:
            return
        last = batch[-1].pk


def sealed_rows() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in sealed_models()}


def every_secret_opens(sample: int = 50) -> bool:
    """A sample of each sealed table still opens after the rotations."""
    return all(
        isinstance(row.unseal(), dict)
        for model in sealed_models()
        for row in model._default_manager.order_by("?")[:sample]
    )
