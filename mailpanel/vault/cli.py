"""``mailpanel vault status|rotate|retire KEY``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mailpanel.vault.datakeys import data_key_counts
from mailpanel.vault.keyring import VaultError, get_keyring
from mailpanel.vault.rotation import add_key, key_usage, pending, reseal_all, retire_key


def status() -> int:
    """Per master key, the rows it protects: users' data keys, legacy secrets, 2FA secrets."""
    keyring = get_keyring()
    usage = key_usage()
    print(f"{'key':<12} {'secrets':>8}  state")
    for kid in keyring.key_ids:
        state = "active" if kid == keyring.active_id else "old"
        print(f"{kid:<12} {usage.get(kid, 0):>8}  {state}")
    for kid in sorted(set(usage) - set(keyring.key_ids)):
        print(f"{kid:<12} {usage[kid]:>8}  MISSING: these secrets cannot be decrypted")
    live, shredded = data_key_counts()
    print(f"data keys: {live} live, {shredded} shredded")
    return 0


def rotate(opts: argparse.Namespace) -> int:
    keyring = get_keyring()
    left = pending()
    if left:
        # An earlier rotation was interrupted: finish it before adding yet another key.
        print(f"resuming: {left} secret(s) are not yet under the active key {keyring.active_id}")
    elif keyring.path is not None and not opts.no_new_key:
        print(f"added key {add_key()} to {keyring.path}")
    else:
        print(f"re-encrypting with the active key {keyring.active_id}")

    def show(done: int, total: int) -> None:
        print(f"  re-encrypted {done}/{total}", flush=True)

    result = reseal_all(batch_size=opts.batch_size, progress=show)
    print(f"done: {result.resealed} row(s) rewritten, every secret now under {result.active_key}")
    return 0


def retire(opts: argparse.Namespace) -> int:
    retire_key(opts.key)
    print(f"key {opts.key} retired")
    return 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="mailpanel vault")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="how many secrets each key protects")
    rot = sub.add_parser("rotate", help="add a key and rewrap every data key with it")
    rot.add_argument("--batch-size", type=int, default=200)
    rot.add_argument(
        "--no-new-key",
        action="store_true",
        help="only re-encrypt with the active key (e.g. after adding one to MAILPANEL_VAULT_KEYS)",
    )
    ret = sub.add_parser("retire", help="remove a key that protects nothing any more")
    ret.add_argument("key")
    opts = parser.parse_args(list(argv))
    try:
        if opts.command == "status":
            return status()
        if opts.command == "rotate":
            return rotate(opts)
        return retire(opts)
    except VaultError as exc:
        print(f"vault: {exc}", file=sys.stderr)
        return 2
