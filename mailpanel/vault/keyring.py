"""AES-256-GCM with versioned master keys, and the per-user data keys they wrap.

Two ciphertext text formats, both ``<version>:<key name>:<base64url(nonce | ciphertext+tag)>``:

``v1:<master key id>:...``
    encrypted with a master key. Used for the wrapped data keys, for allauth's two-factor
    secrets, and for sealed rows written before data keys existed (legacy).
``v2:dk:...``
    encrypted with the owner's data key (envelope encryption): a random 256-bit key per
    user, stored wrapped by a master key on that user's ``vault.DataKey`` row. Destroying
    that row's wrapped value crypto-shreds every ``v2`` secret of the user at once, and a
    master-key rotation rewraps one small row per user instead of every secret.

Associated data binds a ciphertext to its format version, its key name and its place
(model, field, row, owner), so a ciphertext copied into another row or another user's
row does not decrypt. A wrapped data key's place is ``vault.datakey|<user pk>``.

Everything here takes plain values (no models), so migrations can use it too.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"
DATA_KEY_VERSION = "v2"
# What protects a v2 ciphertext (its key-name field, and ``Sealed.secret_key_id``).
DATA_KEY_MARK = "dk"
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class VaultError(Exception):
    """The vault cannot do what was asked (bad key material, missing key, bad format)."""


class DecryptionError(VaultError):
    """A ciphertext does not open: wrong place, tampered, or its key is missing."""


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def new_key_id() -> str:
    return "k" + secrets.token_hex(4)


def new_master_key() -> MasterKey:
    return MasterKey(id=new_key_id(), key=AESGCM.generate_key(bit_length=256))


def format_key_line(key: MasterKey) -> str:
    return f"{key.id}:{_b64(key.key)}"


def parse_keys(text: str, source: str) -> list[MasterKey]:
    """Parse ``id:base64key`` entries (comma or newline separated). The last one is active."""
    keys: list[MasterKey] = []
    for raw in re.split(r"[,\n]", text):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        kid, sep, material = entry.partition(":")
        if not sep or not KEY_ID_RE.match(kid):
            raise VaultError(f"{source}: each key must be written as <id>:<base64 key>")
        try:
            key = _unb64(material)
        except ValueError as exc:
            raise VaultError(f"{source}: key {kid} is not valid base64") from exc
        if len(key) != KEY_BYTES:
            raise VaultError(f"{source}: key {kid} must be 256 bits (32 bytes), not {len(key)}")
        if any(k.id == kid for k in keys):
            raise VaultError(f"{source}: key id {kid} appears twice")
        keys.append(MasterKey(kid, key))
    if not keys:
        raise VaultError(f"{source}: no vault key found")
    return keys


class Keyring:
    def __init__(self, keys: list[MasterKey], path: Path | None = None) -> None:
        if not keys:
            raise VaultError("a keyring needs at least one key")
        self._keys = {k.id: k for k in keys}
        self._order = [k.id for k in keys]
        self.path = path  # where the keys live, when they live in a file we may write

    @property
    def active_id(self) -> str:
        return self._order[-1]

    @property
    def key_ids(self) -> list[str]:
        return list(self._order)

    def encrypt(self, plaintext: bytes, aad: str) -> str:
        kid = self.active_id
        return f"{FORMAT_VERSION}:{kid}:{_seal(self._keys[kid].key, plaintext, _aad(aad, kid))}"

    def decrypt(self, token: str, aad: str) -> bytes:
        version, kid, body = _split(token)
        if version != FORMAT_VERSION:
            raise DecryptionError(f"unknown vault format {version!r}")
        key = self._keys.get(kid)
        if key is None:
            raise DecryptionError(f"vault key {kid} is not configured")
        return _open(key.key, body, _aad(aad, kid))

    def wrap_data_key(self, data_key: bytes, owner_pk: object) -> str:
        """``data_key`` encrypted with the active master key, bound to its user."""
        return self.encrypt(data_key, data_key_place(owner_pk))

    def unwrap_data_key(self, wrapped: str, owner_pk: object) -> bytes:
        return self.decrypt(wrapped, data_key_place(owner_pk))

    def add(self, key: MasterKey) -> None:
        if key.id in self._keys:
            raise VaultError(f"key id {key.id} exists already")
        self._keys[key.id] = key
        self._order.append(key.id)

    def remove(self, kid: str) -> None:
        if kid == self.active_id:
            raise VaultError(f"key {kid} is the active key and cannot be retired")
        if kid not in self._keys:
            raise VaultError(f"no key {kid}")
        del self._keys[kid]
        self._order.remove(kid)

    def save(self) -> None:
        if self.path is None:
            raise VaultError(
                "the vault keys come from MAILPANEL_VAULT_KEYS: change that variable instead"
            )
        text = "".join(format_key_line(self._keys[kid]) + "\n" for kid in self._order)
        _write_private(self.path, text)


def key_id_of(token: str) -> str:
    return _split(token)[1]


def is_legacy(token: str) -> bool:
    """True for a ``v1`` token: encrypted with a master key rather than a data key."""
    return token.startswith(FORMAT_VERSION + ":")


def data_key_place(owner_pk: object) -> str:
    return f"vault.datakey|{owner_pk}"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encrypt_with_data_key(data_key: bytes, plaintext: bytes, place: str) -> str:
    aad = _aad(place, DATA_KEY_MARK, DATA_KEY_VERSION)
    return f"{DATA_KEY_VERSION}:{DATA_KEY_MARK}:{_seal(data_key, plaintext, aad)}"


def decrypt_with_data_key(data_key: bytes, token: str, place: str) -> bytes:
    version, mark, body = _split(token)
    if (version, mark) != (DATA_KEY_VERSION, DATA_KEY_MARK):
        raise DecryptionError(f"not a data-key ciphertext ({version}:{mark})")
    return _open(data_key, body, _aad(place, DATA_KEY_MARK, DATA_KEY_VERSION))


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return _b64(nonce + AESGCM(key).encrypt(nonce, plaintext, aad))


def _open(key: bytes, body: str, aad: bytes) -> bytes:
    try:
        raw = _unb64(body)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError(
            "secret does not decrypt here: it was altered or belongs to another record"
        ) from exc


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(":", 2)
    if len(parts) != 3:
        raise DecryptionError("not a vault ciphertext")
    return parts[0], parts[1], parts[2]


def _aad(place: str, kid: str, version: str = FORMAT_VERSION) -> bytes:
    return f"mailpanel-vault|{version}|{kid}|{place}".encode()


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600, so a crash never leaves half a key file."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


_lock = threading.Lock()
_keyring: Keyring | None = None


def load_keyring(env_keys: str | None, keys_file: Path, create: bool) -> Keyring:
    if env_keys:
        return Keyring(parse_keys(env_keys, "MAILPANEL_VAULT_KEYS"))
    if not keys_file.exists():
        if not create:
            raise VaultError(f"no vault keys: {keys_file} does not exist")
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        _write_private(keys_file, format_key_line(new_master_key()) + "\n")
    return Keyring(parse_keys(keys_file.read_text(), str(keys_file)), path=keys_file)


def get_keyring() -> Keyring:
    global _keyring
    with _lock:
        if _keyring is None:
            from django.conf import settings

            _keyring = load_keyring(
                settings.VAULT_KEYS, settings.VAULT_KEYS_FILE, create=not settings.PRODUCTION
            )
        return _keyring


def reset_keyring() -> None:
    """Forget the loaded keyring (after the key file changed on disk)."""
    global _keyring
    with _lock:
        _keyring = None
