"""DKIM keys: generated here with cryptography, private half sealed in the vault."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

DEFAULT_BITS = 2048


def generate_key_pair(bits: int = DEFAULT_BITS) -> tuple[str, str]:
    """(private key PEM, public key as the base64 DER that DNS publishes in p=)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode()


def new_selector(taken: set[str]) -> str:
    """``mp`` + year and month, with a letter suffix when that selector exists already."""
    base = "mp" + timezone.now().strftime("%Y%m")
    if base not in taken:
        return base
    for letter in "abcdefghijklmnopqrstuvwxyz":
        if base + letter not in taken:
            return base + letter
    raise ValueError("too many DKIM selectors this month")
