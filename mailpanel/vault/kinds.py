"""The kinds of credential the vault holds, with the checks each must pass before it is stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncssh
from django.core.exceptions import ValidationError

MAX_SECRET_CHARS = 16 * 1024
SSH_ALGORITHMS = {
    "ssh-ed25519": "Ed25519",
    "ecdsa-sha2-nistp256": "ECDSA P-256",
    "ecdsa-sha2-nistp384": "ECDSA P-384",
    "ecdsa-sha2-nistp521": "ECDSA P-521",
    "ssh-rsa": "RSA",
}
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class SecretField:
    name: str
    label: str
    multiline: bool = False
    required: bool = True
    help_text: str = ""


Validator = Callable[[dict[str, str]], dict[str, Any]]


@dataclass(frozen=True)
class CredentialKind:
    value: str
    label: str
    fields: tuple[SecretField, ...]
    validate: Validator  # returns the public metadata; raises ValidationError
    where_to_get: str = ""  # where the user creates it, and the permissions it needs


def _last4(value: str) -> str:
    return value[-4:] if len(value) >= 12 else ""


def _shape(value: str, pattern: str, what: str) -> None:
    if not re.fullmatch(pattern, value):
        raise ValidationError(what)


def _plain_text(value: str, label: str) -> None:
    if any(ch in value for ch in "\x00\r\n"):
        raise ValidationError(f"{label} must be one line without control characters.")


def validate_ssh_key(data: dict[str, str]) -> dict[str, Any]:
    pem = data["private_key"].strip()
    passphrase = data.get("passphrase") or None
    if "PRIVATE KEY-----" not in pem:
        raise ValidationError(
            "This is not a private key: paste the whole file, from -----BEGIN to -----END "
            "(a public key, starting with ssh-ed25519 or ssh-rsa, is not enough)."
        )
    key = _import_key(pem, passphrase)
    algorithm = key.get_algorithm()
    if algorithm not in SSH_ALGORITHMS:
        raise ValidationError(f"{algorithm} keys are not supported: use Ed25519, ECDSA or RSA.")
    meta: dict[str, Any] = {
        "key_type": SSH_ALGORITHMS[algorithm],
        "fingerprint": key.get_fingerprint("sha256"),
        "public_key": key.export_public_key().decode().strip(),
    }
    if algorithm == "ssh-rsa":
        bits = int(getattr(key.pyca_key, "key_size", 0))
        if bits < MIN_RSA_BITS:
            raise ValidationError(
                f"This RSA key has {bits} bits; at least {MIN_RSA_BITS} are required."
            )
        meta["bits"] = bits
    return meta


def _import_key(pem: str, passphrase: str | None) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_private_key(pem, passphrase)
    except asyncssh.KeyImportError as exc:
        text = str(exc).lower()
        if "passphrase must be specified" in text:
            raise ValidationError("This key is protected: enter its passphrase.") from exc
        if "decrypt" in text or "passphrase" in text or "incorrect" in text:
            raise ValidationError("The passphrase does not open this key.") from exc
        raise ValidationError(
            "This private key could not be read: it looks damaged or incomplete."
        ) from exc
    except asyncssh.KeyEncryptionError as exc:
        raise ValidationError("The passphrase does not open this key.") from exc
    except (ValueError, TypeError) as exc:
        raise ValidationError("This private key could not be read.") from exc


def validate_ssh_password(data: dict[str, str]) -> dict[str, Any]:
    _plain_text(data["password"], "The password")
    return {}


def validate_cloudflare(data: dict[str, str]) -> dict[str, Any]:
    token = data["token"]
    _shape(
        token,
        r"[A-Za-z0-9_-]{32,128}",
        "A Cloudflare API token is 40 letters, digits, - or _ (create one under "
        "My Profile → API Tokens with Zone:DNS:Edit).",
    )
    return {"hint": _last4(token)}


def validate_namecom(data: dict[str, str]) -> dict[str, Any]:
    _shape(
        data["username"], r"[A-Za-z0-9._@+-]{1,64}", "A Name.com username is letters and digits."
    )
    _shape(
        data["token"],
        r"[A-Za-z0-9]{16,128}",
        "A Name.com API token is letters and digits (Account → Security → API Tokens).",
    )
    return {"hint": _last4(data["token"])}


def validate_openprovider(data: dict[str, str]) -> dict[str, Any]:
    _plain_text(data["username"], "The username")
    _plain_text(data["password"], "The password")
    if len(data["username"]) > 100:
        raise ValidationError("An OpenProvider username has at most 100 characters.")
    return {}


def validate_nvidia(data: dict[str, str]) -> dict[str, Any]:
    key = data["api_key"]
    _shape(
        key,
        r"nvapi-[A-Za-z0-9_-]{20,200}",
        "An NVIDIA API key starts with nvapi- followed by letters, digits, - or _ "
        "(build.nvidia.com → Get API Key).",
    )
    return {"hint": _last4(key)}


KINDS: dict[str, CredentialKind] = {
    kind.value: kind
    for kind in (
        CredentialKind(
            "ssh_key",
            "SSH private key",
            (
                SecretField(
                    "private_key",
                    "Private key",
                    multiline=True,
                    help_text="Ed25519, ECDSA or RSA (2048 bits or more), OpenSSH or PEM format.",
                ),
                SecretField(
                    "passphrase",
                    "Passphrase",
                    required=False,
                    help_text="Only if the key is protected by one.",
                ),
            ),
            validate_ssh_key,
        ),
        CredentialKind(
            "ssh_password",
            "SSH password",
            (SecretField("password", "Password"),),
            validate_ssh_password,
        ),
        CredentialKind(
            "cloudflare",
            "Cloudflare API token",
            (SecretField("token", "API token"),),
            validate_cloudflare,
            "Cloudflare dashboard → My Profile → API Tokens → Create Token, with the permissions "
            "Zone · Zone · Read and Zone · DNS · Edit, on the zones the panel should manage.",
        ),
        CredentialKind(
            "namecom",
            "Name.com API token",
            (SecretField("username", "Username"), SecretField("token", "API token")),
            validate_namecom,
            "Name.com → Account Settings → Security → API Token: your username and the production "
            "token. A Name.com token reaches the whole account; the panel writes only in the zones "
            "you link.",
        ),
        CredentialKind(
            "openprovider",
            "OpenProvider account",
            (SecretField("username", "Username"), SecretField("password", "Password")),
            validate_openprovider,
            "An OpenProvider user with API access (best a sub-user of its own, under Account → "
            "Users), whose IP restriction lets the panel's address in.",
        ),
        CredentialKind(
            "nvidia",
            "NVIDIA API key",
            (SecretField("api_key", "API key"),),
            validate_nvidia,
            "build.nvidia.com → sign in → Get API Key (it starts with nvapi-).",
        ),
    )
}


def check_payload(
    kind: CredentialKind, data: dict[str, str]
) -> tuple[dict[str, str], dict[str, Any]]:
    """Validate a submitted secret: returns (payload to seal, public metadata)."""
    payload: dict[str, str] = {}
    for spec in kind.fields:
        value = data.get(spec.name) or ""
        if not spec.multiline:
            value = value.strip()
        if len(value) > MAX_SECRET_CHARS:
            raise ValidationError(
                f"{spec.label} is too long: at most {MAX_SECRET_CHARS // 1024} KB is accepted."
            )
        if spec.required and not value.strip():
            raise ValidationError(f"{spec.label} is required.")
        payload[spec.name] = value
    return payload, kind.validate(payload)
