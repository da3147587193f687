"""Per-user data keys: one per user, made on the first seal, and shredding destroys it for good."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, transaction

from mailpanel.accounts.models import User
from mailpanel.vault.actions import create_credential
from mailpanel.vault.datakeys import (
    DataKeyShredded,
    has_live_data_key,
    open_secret,
    shred_data_key,
)
from mailpanel.vault.keyring import DecryptionError, Keyring, get_keyring, parse_keys
from mailpanel.vault.models import Credential, DataKey
from mailpanel.vault.rotation import add_key, key_usage

TOKEN = "cf" + "B" * 38


def make(owner: User, label: str = "cf", token: str = TOKEN) -> Credential:
    return create_credential(owner, "cloudflare", label, {"token": token})


def every_master_key(keys_file: Path) -> Keyring:
    """Every master key the vault ever had: what someone holding all of them could try."""
    return Keyring(parse_keys(keys_file.read_text(), str(keys_file)))


def test_a_users_secrets_share_one_data_key_made_on_the_first_seal(
    user: User, other_user: User
) -> None:
    assert not has_live_data_key(user)
    first, second = make(user, "one"), make(user, "two")
    make(other_user)

    assert DataKey.objects.filter(owner=user).count() == 1
    assert has_live_data_key(user) and has_live_data_key(other_user.pk)
    for credential in (first, second):
        stored = Credential.objects.get(pk=credential.pk)
        assert stored.secret.startswith("v2:dk:") and stored.secret_key_id == "dk"
        assert stored.unseal() == {"token": TOKEN}


def test_the_data_key_is_stored_only_wrapped_by_the_active_master_key(user: User) -> None:
    make(user)
    row = DataKey.objects.get(owner=user)

    assert row.wrapped.startswith(f"v1:{get_keyring().active_id}:")
    assert row.wrapped_key_id == get_keyring().active_id and row.shredded_at is None


def test_a_data_key_moved_to_another_user_does_not_open_their_secrets(
    user: User, other_user: User
) -> None:
    make(user)
    theirs = make(other_user)
    DataKey.objects.filter(owner=other_user).update(wrapped=DataKey.objects.get(owner=user).wrapped)

    with pytest.raises(DecryptionError):  # the wrapped key is bound to its user
        Credential.objects.get(pk=theirs.pk).unseal()


def test_a_shredded_users_secrets_copied_aside_open_with_no_master_key(
    fresh_keyring: Path, user: User, other_user: User
) -> None:
    mine = [make(user, "one"), make(user, "two")]
    theirs = make(other_user)
    add_key()  # several master keys, all of them at hand below
    copies = [(c.secret, c._place()) for c in mine]

    shred_data_key(user)

    ring = every_master_key(fresh_keyring)
    assert len(ring.key_ids) == 2
    for secret, place in copies:
        with pytest.raises(DataKeyShredded):
            open_secret(secret, place, user.pk, keyring=ring)
        for kid in ring.key_ids:  # nor is any master key the key of a v2 secret
            single = Keyring([k for k in parse_keys(fresh_keyring.read_text(), "f") if k.id == kid])
            with pytest.raises(DecryptionError):
                single.decrypt(secret, place)
    Credential.objects.filter(pk=mine[0].pk).update(secret=copies[0][0])  # put back: still shut
    with pytest.raises(DataKeyShredded, match="shredded"):
        Credential.objects.get(pk=mine[0].pk).unseal()
    assert Credential.objects.get(pk=theirs.pk).unseal() == {"token": TOKEN}


def test_shredding_keeps_the_row_so_no_new_key_is_ever_made(user: User) -> None:
    make(user)
    shred_data_key(user)
    row = DataKey.objects.get(owner=user)
    shred_data_key(user.pk)  # twice: nothing changes

    again = DataKey.objects.get(owner=user)
    assert (again.wrapped, again.wrapped_key_id) == ("", "")
    assert again.shredded_at == row.shredded_at is not None
    assert not has_live_data_key(user)
    with pytest.raises(DataKeyShredded):
        make(user, "after")
    assert not Credential.objects.filter(owner=user, label="after").exists()
    assert DataKey.objects.filter(owner=user).count() == 1


def test_a_user_who_never_sealed_anything_can_be_shredded(user: User) -> None:
    shred_data_key(user)

    assert DataKey.objects.get(owner=user).shredded_at is not None
    with pytest.raises(DataKeyShredded):
        make(user)


def test_shredding_blanks_legacy_secrets_a_master_key_would_still_open(user: User) -> None:
    credential = make(user)
    legacy = get_keyring().encrypt(b'{"token":"old"}', credential._place())
    Credential.objects.filter(pk=credential.pk).update(secret=legacy, secret_key_id="k")

    shred_data_key(user)

    stored = Credential.objects.get(pk=credential.pk)
    assert stored.secret == "" and stored.secret_key_id == "dk"
    with pytest.raises(DataKeyShredded):
        stored.unseal()


def test_shredded_keys_leave_the_master_key_usage(fresh_keyring: Path, user: User) -> None:
    make(user)
    shred_data_key(user)

    assert key_usage() == {}


def test_deleting_the_account_takes_the_data_key_with_it(user: User) -> None:
    credential = make(user)
    secret, place, pk = credential.secret, credential._place(), user.pk
    user.delete()

    with pytest.raises(ObjectDoesNotExist):
        DataKey.objects.get(owner_id=pk)
    with pytest.raises(DataKeyShredded):
        open_secret(secret, place, pk)


def backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers: no race to lose"
)
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_first_seals_end_with_one_key_both_use(user: User) -> None:
    first_sealed, release = threading.Event(), threading.Event()
    made: dict[str, Credential] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                made["a"] = make(user, "a", "tok-a" + "x" * 35)  # its key row, not yet committed
                first_sealed.set()
                release.wait(10)
        finally:
            connection.close()

    def second() -> None:
        first_sealed.wait(10)
        try:
            made["b"] = make(user, "b", "tok-b" + "x" * 35)  # waits on the owner's unique key
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while not (raced := backends_waiting_on_a_lock() > 0) and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    for thread in threads:
        thread.join(20)

    assert raced  # the second seal did wait on the first one's key row
    assert set(made) == {"a", "b"}
    assert DataKey.objects.filter(owner=user).count() == 1
    for name in ("a", "b"):
        opened = Credential.objects.get(pk=made[name].pk).unseal()
        assert opened == {"token": f"tok-{name}" + "x" * 35}
