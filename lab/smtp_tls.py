"""A throw-away self-signed certificate for the lab SMTP receiver's STARTTLS."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def subject_names(hostname: str, address: str) -> list[x509.GeneralName]:
    """The host name, plus the listen address when it is an IP, so a client that connects
    by address (as tests do) can verify the certificate."""
    names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    with contextlib.suppress(ValueError):
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    return names


def self_signed_pem(hostname: str, address: str = "") -> tuple[bytes, bytes]:
    """(certificate, private key) in PEM; EC P-256 because it is generated in a blink."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(subject_names(hostname, address)), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(hostname: str, address: str = "") -> tuple[ssl.SSLContext, str]:
    """A server-side TLS context with a fresh self-signed certificate, and that certificate
    in PEM (for clients that want to trust it)."""
    cert_pem, key_pem = self_signed_pem(hostname, address)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # ssl only loads certificates from files; keep them just long enough to load.
    with tempfile.TemporaryDirectory(prefix="lab-smtp-tls-") as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context, cert_pem.decode()
