"""DKIM, SPF and DMARC end to end: records published through the fake Cloudflare API, a
message signed with dkimpy, sent from a lab host over the lab network, judged by the lab's
receiving mail server with answers from the lab DNS server.

The records (zone ``example.test`` of the lab's Cloudflare account):

- ``sel1._domainkey.example.test`` TXT ``v=DKIM1; k=rsa; p=<RSA-2048 key>``: about 400
  characters, so the lab DNS must split it into several strings on the wire;
- ``bounce.example.test`` TXT ``v=spf1 ip4:<the sending host> -all``: the envelope domain;
- ``_dmarc.example.test`` TXT ``v=DMARC1; p=reject; aspf=s``.

Why ``aspf=s`` and an envelope domain of its own: SPF passes for every message (the host
is authorised), but under strict SPF alignment ``bounce.example.test`` is not
``example.test``, so SPF never carries DMARC. The DMARC verdict then rests on DKIM alone:
pass with the right key, fail once the published key is replaced. Without that, an aligned
SPF pass would keep DMARC at pass and hide the broken signature.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate

import asyncssh
import dkim
import dns.message
import dns.query
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.lab import Lab, LabHost
from lab.smtp_store import Message, wait_for_message

pytestmark = pytest.mark.lab

DOMAIN = "example.test"
SELECTOR = "sel1"
KEY_NAME = f"{SELECTOR}._domainkey.{DOMAIN}"
ENVELOPE_DOMAIN = f"bounce.{DOMAIN}"
SIGNED_HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID"]


@dataclass(frozen=True)
class Published:
    """What the fixture published, and how to change the DKIM record."""

    private_pem: bytes
    public_txt: str
    host: LabHost
    cloudflare: httpx.Client
    zone_id: str
    dkim_record_id: str

    def set_dkim_key(self, txt: str) -> None:
        url = f"/zones/{self.zone_id}/dns_records/{self.dkim_record_id}"
        response = self.cloudflare.patch(url, json={"content": txt})
        assert response.status_code == 200, response.text


def rsa_key() -> tuple[bytes, str]:
    """A fresh RSA-2048 key: (PEM private key for dkimpy, the DKIM TXT value)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@pytest.fixture(scope="module")
def published(lab: Lab) -> Iterator[Published]:
    if lab.peers is None or not lab.services:
        pytest.skip("needs the lab's DNS, SMTP receiver and provider fakes")
    host = lab.hosts[0]
    pem, txt = rsa_key()
    headers = {"Authorization": f"Bearer {lab.peers.cloudflare_token}"}
    # trust_env=False: no proxy variable may send lab traffic anywhere else.
    with httpx.Client(
        base_url=lab.peers.cloudflare_url, headers=headers, trust_env=False, timeout=10
    ) as cloudflare:
        zones = cloudflare.get("/zones", params={"name": DOMAIN}).json()["result"]
        zone_id = zones[0]["id"]
        created = []
        for name, content in (
            (KEY_NAME, txt),
            (ENVELOPE_DOMAIN, f"v=spf1 ip4:{host.address} -all"),
            (f"_dmarc.{DOMAIN}", "v=DMARC1; p=reject; aspf=s"),
        ):
            body = {"type": "TXT", "name": name, "content": content, "ttl": 60}
            response = cloudflare.post(f"/zones/{zone_id}/dns_records", json=body)
            assert response.status_code == 200, response.text
            created.append(response.json()["result"]["id"])
        try:
            yield Published(pem, txt, host, cloudflare, zone_id, created[0])
        finally:
            # The session lab's zone is shared: leave it as the lab made it.
            for record_id in created:
                cloudflare.delete(f"/zones/{zone_id}/dns_records/{record_id}")


def signed_message(pem: bytes, rcpt: str, subject: str) -> bytes:
    lines = [
        f"From: Lab Sender <sender@{DOMAIN}>",
        f"To: <{rcpt}>",
        f"Subject: {subject}",
        f"Date: {formatdate()}",
        f"Message-ID: <{secrets.token_hex(8)}@{DOMAIN}>",
        "",
        "Signed in the lab, checked by the lab.",
        ".a line that starts with a dot survives SMTP dot-stuffing",
        "",
    ]
    raw = "\r\n".join(lines).encode()
    signature = dkim.sign(
        raw, SELECTOR.encode(), DOMAIN.encode(), pem, include_headers=SIGNED_HEADERS
    )
    return bytes(signature) + raw


def send_from_host(lab: Lab, host: LabHost, mail_from: str, rcpt: str, raw: bytes) -> None:
    """Deliver over SMTP to the lab receiver, the TCP connection opened by ``host`` itself.

    An SSH tunnel (direct-tcpip): sshd on the host connects to 10.200.0.3:25, so the mail
    crosses the lab network from the host's own address, which is what SPF judges. The
    local end is a listener on 127.0.0.1 for stdlib smtplib, run in a thread so the event
    loop keeps forwarding.
    """

    def smtp(port: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, local_hostname=f"{host.name}.lab", timeout=15) as s:
            refused = s.sendmail(mail_from, [rcpt], raw)
            assert refused == {}

    async def run() -> None:
        async with asyncssh.connect(
            host.address,
            username="root",
            client_keys=[str(host.root_key_path)],
            known_hosts=asyncssh.import_known_hosts(host.known_hosts()),
        ) as conn:
            listener = await conn.forward_local_port("127.0.0.1", 0, lab.mx_address, 25)
            try:
                await asyncio.to_thread(smtp, listener.get_port())
            finally:
                listener.close()
                await listener.wait_closed()

    asyncio.run(run())


def deliver(lab: Lab, published: Published, subject: str) -> Message:
    rcpt = f"postmaster+{secrets.token_hex(4)}@receiver.test"
    raw = signed_message(published.private_pem, rcpt, subject)
    send_from_host(lab, published.host, f"bounces@{ENVELOPE_DOMAIN}", rcpt, raw)
    return wait_for_message(lab.mail_db, lambda m: rcpt in m["rcpt_to"], timeout=15)


def test_the_long_dkim_key_is_served_split_into_strings(lab: Lab, published: Published) -> None:
    reply = dns.query.udp(dns.message.make_query(KEY_NAME, "TXT"), lab.dns_address, timeout=3)
    (rrset,) = reply.answer
    (rdata,) = list(rrset)
    strings = [s.decode() for s in rdata.strings]
    assert len(strings) >= 2 and all(len(s) <= 255 for s in strings)
    assert "".join(strings) == published.public_txt


def test_a_message_signed_with_the_published_key_passes_all_three(
    lab: Lab, published: Published
) -> None:
    message = deliver(lab, published, "right key")
    assert message["peer"] == published.host.address  # it came over the lab network
    assert message["helo"] == f"{published.host.name}.lab"
    assert (message["dkim"], message["dkim_domain"], message["dkim_selector"]) == (
        "pass",
        DOMAIN,
        SELECTOR,
    )
    assert message["spf"] == "pass"
    assert (message["dmarc"], message["dmarc_policy"]) == ("pass", "reject")
    assert message["raw"].endswith(
        b"\r\n.a line that starts with a dot survives SMTP dot-stuffing\r\n"
    )


def test_after_the_key_is_replaced_the_signature_and_dmarc_fail(
    lab: Lab, published: Published
) -> None:
    _, wrong_txt = rsa_key()
    published.set_dkim_key(wrong_txt)
    try:
        message = deliver(lab, published, "replaced key")
    finally:
        published.set_dkim_key(published.public_txt)
    # A key was found and the signature does not verify with it: fail, not permerror.
    assert (message["dkim"], message["dkim_domain"], message["dkim_selector"]) == (
        "fail",
        DOMAIN,
        SELECTOR,
    )
    assert message["spf"] == "pass"  # the host is still authorised ...
    assert (message["dmarc"], message["dmarc_policy"]) == ("fail", "reject")  # ... not aligned
    assert f"dkim=fail header.d={DOMAIN}" in message["auth_results"]
