"""Move every legacy ``v1`` sealed secret onto its owner's data key (``v2``), and back.

Forward, each owner gets a fresh data key (wrapped by the active master key) on their
first secret. Backward, each ``v2`` secret is encrypted with the active master key again;
the data keys stay until 0002 is reversed. A secret that does not open (its master key is
gone, it was altered, or its owner's data key was shredded) is left as it was: it could not
be read before either, and ``vault status`` still names what it lacks.
"""

from django.db import migrations

from mailpanel.vault.keyring import (
    DATA_KEY_MARK,
    DecryptionError,
    decrypt_with_data_key,
    encrypt_with_data_key,
    get_keyring,
    key_id_of,
    new_data_key,
)

SEALED = [("vault", "Credential"), ("domains", "DkimKey")]
BATCH = 500


def place(row):
    return f"{row._meta.label_lower}|secret|{row.pk}|{row.owner_id}"


def pages(rows):
    """Rows in pk order, a page at a time: rows left unchanged must not be met again."""
    last = None
    while True:
        page = list((rows if last is None else rows.filter(pk__gt=last)).order_by("pk")[:BATCH])
        if not page:
            return
        yield from page
        last = page[-1].pk


def data_key(DataKey, ring, owner_id, create):
    """The owner's unwrapped data key (made when ``create``), or None when it cannot be had."""
    row = DataKey.objects.filter(owner_id=owner_id).first()
    if row is None and create:
        wrapped = ring.wrap_data_key(new_data_key(), owner_id)
        row = DataKey.objects.create(
            owner_id=owner_id, wrapped=wrapped, wrapped_key_id=ring.active_id
        )
    if row is None or not row.wrapped:
        return None
    try:
        return ring.unwrap_data_key(row.wrapped, owner_id)
    except DecryptionError:
        return None


def convert(apps, legacy, change):
    """Apply ``change(ring, row, key) -> (secret, key id) | None`` to each sealed row."""
    ring, DataKey, keys = get_keyring(), apps.get_model("vault", "DataKey"), {}
    for app, name in SEALED:
        rows = apps.get_model(app, name).objects
        rows = (
            rows.exclude(secret_key_id=DATA_KEY_MARK)
            if legacy
            else rows.filter(secret_key_id=DATA_KEY_MARK)
        )
        for row in pages(rows):
            if row.owner_id not in keys:
                keys[row.owner_id] = data_key(DataKey, ring, row.owner_id, create=legacy)
            changed = change(ring, row, keys[row.owner_id])
            if changed is not None:
                row.secret, row.secret_key_id = changed
                row.save(update_fields=["secret", "secret_key_id"])


def to_data_key(ring, row, key):
    try:
        plaintext = ring.decrypt(row.secret, place(row))
    except DecryptionError:
        return None
    if key is None:
        return None
    return encrypt_with_data_key(key, plaintext, place(row)), DATA_KEY_MARK


def to_master_key(ring, row, key):
    if key is None:
        return None
    try:
        plaintext = decrypt_with_data_key(key, row.secret, place(row))
    except DecryptionError:
        return None
    secret = ring.encrypt(plaintext, place(row))
    return secret, key_id_of(secret)


def forward(apps, schema_editor):
    convert(apps, True, to_data_key)


def backward(apps, schema_editor):
    convert(apps, False, to_master_key)


class Migration(migrations.Migration):
    dependencies = [
        ("vault", "0002_datakey"),
        ("domains", "0005_verified"),
    ]

    operations = [migrations.RunPython(forward, backward)]
