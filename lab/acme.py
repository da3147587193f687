"""The lab's ACME server: Debian's ``pebble``, in its own namespace, with its own TLS CA.

``python -m lab.acme --listen 10.200.0.4 --dns 10.200.0.2 --dir RUN`` writes a CA and a
certificate for the listener, a pebble config, then becomes pebble. Hosts trust the CA
through ``ca.pem``; pebble validates HTTP-01 by resolving names through the lab DNS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import shutil
import ssl
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACME_PORT = 14000
MANAGEMENT_PORT = 15000


def available() -> bool:
    return shutil.which("pebble") is not None


def directory_url(address: str) -> str:
    return f"https://{address}:{ACME_PORT}/dir"


def issuing_root(address: str, ca_path: Path) -> str:
    """The root pebble signs certificates with (a new one each start), from its management
    API; a sender that fetches an MTA-STS policy over such a certificate must trust it."""
    context = ssl.create_default_context(cafile=str(ca_path))
    url = f"https://{address}:{MANAGEMENT_PORT}/roots/0"
    with urllib.request.urlopen(url, context=context, timeout=20) as answer:
        return str(answer.read().decode())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_certificates(directory: Path, address: str) -> Path:
    """A CA and a leaf for the ACME listener's IP address; returns the CA path."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("MailPanel lab ACME CA"))
        .issuer_name(_name("MailPanel lab ACME CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(address))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(_pem(key))
    return directory / "ca.pem"


def write_config(directory: Path, address: str) -> Path:
    config = {
        "pebble": {
            "listenAddress": f"{address}:{ACME_PORT}",
            "managementListenAddress": f"{address}:{MANAGEMENT_PORT}",
            "certificate": str(directory / "cert.pem"),
            "privateKey": str(directory / "key.pem"),
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    path = directory / "pebble.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.acme")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--dns", required=True, help="the lab DNS server, ADDR[:PORT]")
    parser.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    write_certificates(args.dir, args.listen)
    config = write_config(args.dir, args.listen)
    dns = args.dns if ":" in args.dns else f"{args.dns}:53"
    # No sleeps before validation, no nonce rejections: fast and deterministic tests.
    os.environ.update(PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0")
    os.execvp("pebble", ["pebble", "-config", str(config), "-dnsserver", dns])  # noqa: S606


if __name__ == "__main__":
    main()
