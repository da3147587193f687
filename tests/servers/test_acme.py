"""ACME: a certificate from the lab's pebble, served by Postfix on 25 and 587, renewable."""

from __future__ import annotations

import smtplib
import ssl
from typing import Any

import pytest
from cryptography import x509
from huey.api import Huey

from mailpanel.accounts.models import User
from mailpanel.jobs.models import JobState
from tests.servers.conftest import log_text, pinned_server, run
from tests.servers.test_faults import ssh_root

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]


def served_certificate(address: str, port: int) -> x509.Certificate:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we inspect the certificate ourselves
    with smtplib.SMTP(address, port, timeout=20) as smtp:
        smtp.ehlo("client.test")
        smtp.starttls(context=context)
        der = smtp.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    assert der
    return x509.load_der_x509_certificate(der)


def issuer(cert: x509.Certificate) -> str:
    return cert.issuer.rfc4514_string()


def test_postfix_serves_an_acme_certificate_and_certbot_renews_it(
    user: User, lab_dns: Any, queue: Huey, settings: Any
) -> None:
    if not lab_dns.acme_directory:
        pytest.fail("the lab's ACME server (Debian package pebble) is missing")
    settings.ACME_DIRECTORY = lab_dns.acme_directory
    settings.ACME_CA_BUNDLE = str(lab_dns.acme_ca_path)
    host = lab_dns.hosts[0]
    server = pinned_server(user, host, tls_mode="acme")

    job = run(server, "server.converge", queue)
    assert job.state == JobState.SUCCEEDED, log_text(job) + job.error
    assert f"ACME certificate for {host.name}.lab" in log_text(job)
    assert "--register-unsafely-without-email" in log_text(job)

    on_25, on_587 = served_certificate(host.address, 25), served_certificate(host.address, 587)
    assert on_25 == on_587
    assert "Pebble" in issuer(on_25)
    names = on_25.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{host.name}.lab" in names.get_values_for_type(x509.DNSName)

    again = run(server, "server.converge", queue)
    assert "Already converged: no change." in log_text(again)

    # Renewal is certbot's timer, whose service the panel gives the CA bundle; forcing a
    # renewal with the same environment proves the saved renewal and the deploy hook work.
    dropin = ssh_root(host, "systemctl", "cat", "certbot.service")
    assert "REQUESTS_CA_BUNDLE=/etc/mailpanel/acme-ca.pem" in dropin
    ssh_root(
        host,
        "env",
        "REQUESTS_CA_BUNDLE=/etc/mailpanel/acme-ca.pem",
        "certbot",
        "renew",
        "--force-renewal",
        "--no-random-sleep-on-renew",
        "--cert-name",
        "mailpanel",
    )
    renewed = served_certificate(host.address, 25)
    assert renewed.serial_number != on_25.serial_number
    assert "Pebble" in issuer(renewed)
    timer = ssh_root(host, "systemctl", "is-enabled", "certbot.timer").strip()
    assert timer == "enabled"
