"""ACME: a certificate from the lab's pebble, served by Postfix on 25 and 587, renewable."""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Any

import pytest
from cryptography import x509
from django.utils import timezone
from huey.api import Huey

from lab.acme import issuing_root
from lab.zonestore import ZoneStore
from mailpanel.accounts.models import User
from mailpanel.dns.desired import mta_sts_policy
from mailpanel.domains.models import SendingDomain
from mailpanel.jobs.models import JobState
from mailpanel.servers.mailstack import TLS_DIR
from tests.servers.conftest import log_text, pinned_server, run, ssh_root

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]

POLICY_DOMAIN = "policy.test"


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
    user: User, acme_lab: Any, queue: Huey
) -> None:
    lab_dns = acme_lab
    host = lab_dns.hosts[0]
    # A server that never had a certificate (an earlier test may have given this host one).
    ssh_root(host, "rm", "-rf", "/etc/letsencrypt", TLS_DIR)
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


def served_policy(
    address: str, name: str, root_pem: str, path: str = "/.well-known/mta-sts.txt"
) -> tuple[x509.Certificate, str]:
    """GET the MTA-STS policy as a sender does: HTTPS to `name`, trusting the ACME root."""
    context = ssl.create_default_context(cadata=root_pem)
    with (
        socket.create_connection((address, 443), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := tls.recv(65536):
            response += chunk
        der = tls.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der), response.decode()


def pebble_root(lab: Any) -> str:
    """The root pebble signs with (a new one per run), from its management API."""
    return issuing_root(lab.acme_address, lab.acme_ca_path)


def test_the_mta_sts_policy_is_served_over_https_once_its_name_points_at_the_server(
    user: User, acme_lab: Any, queue: Huey
) -> None:
    lab_dns = acme_lab
    host = lab_dns.hosts[0]
    server = pinned_server(user, host, tls_mode="acme")
    SendingDomain.objects.create(
        owner=user, server=server, name=POLICY_DOMAIN, verified_at=timezone.now()
    )
    site = f"mta-sts.{POLICY_DOMAIN}"

    early = run(server, "server.converge", queue)
    assert early.state == JobState.SUCCEEDED, log_text(early) + early.error
    assert f"{site} does not point at this server in DNS yet" in log_text(early)

    zones = ZoneStore(lab_dns.zone_db)
    zone = zones.create_zone("lab", POLICY_DOMAIN, POLICY_DOMAIN)
    zones.delegate(POLICY_DOMAIN, zone["id"])
    zones.add_record(zone["id"], site, "A", host.address, 300)
    zones.close()
    job = run(server, "server.converge", queue)
    assert job.state == JobState.SUCCEEDED, log_text(job) + job.error
    assert f"ACME certificate for {site}" in log_text(job)

    cert, response = served_policy(host.address, site, pebble_root(lab_dns))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [site]
    head, _, body = response.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200") and "Content-Type: text/plain" in head
    assert body == mta_sts_policy(f"{host.name}.lab")
    assert "mode: testing\r\n" in body and f"mx: {host.name}.lab\r\n" in body
    _, elsewhere = served_policy(host.address, site, pebble_root(lab_dns), "/etc/passwd")
    assert elsewhere.startswith("HTTP/1.1 404")

    again = run(server, "server.converge", queue)
    assert "Already converged: no change." in log_text(again)

    # The domain leaves the server: its certificate goes (renewals would fail) and nginx
    # serves nothing any more.
    SendingDomain.objects.filter(server=server).delete()
    gone = run(server, "server.converge", queue)
    assert gone.state == JobState.SUCCEEDED, log_text(gone) + gone.error
    assert f"deleted the certificate of {site}" in log_text(gone)
    with pytest.raises(OSError):
        served_policy(host.address, site, pebble_root(lab_dns))
