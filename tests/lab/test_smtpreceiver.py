"""The lab SMTP receiver records mail with SPF, DKIM and DMARC verdicts from the lab DNS."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lab.dnsserver import DnsServer
from lab.smtp_store import header
from lab.smtpreceiver import SmtpReceiver, messages, wait_for_message
from lab.zonestore import ZoneStore

HOST = "127.0.0.1"
DOMAIN = "shop.example"
SELECTOR = "mp2025"


@dataclass(frozen=True)
class DkimKey:
    private_pem: bytes
    dns_txt: str


def make_key() -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKey(private_pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(public_der).decode())


@pytest.fixture(scope="module")
def keys() -> tuple[DkimKey, DkimKey]:
    """The signing key and another one, to publish by mistake."""
    return make_key(), make_key()


@dataclass
class Lab:
    store: ZoneStore
    zone_id: str
    dns: DnsServer
    mx: SmtpReceiver
    mail_db: Path

    def publish(self, name: str, rtype: str, content: str) -> None:
        self.store.add_record(self.zone_id, name, rtype, content, 300)


@pytest.fixture
def lab(tmp_path: Path, keys: tuple[DkimKey, DkimKey]) -> Iterator[Lab]:
    """DNS and SMTP on loopback; shop.example publishes SPF for 127.0.0.1 and DMARC reject."""
    with ZoneStore(tmp_path / "zones.sqlite3") as store:
        zone_id = str(store.create_zone("cloudflare", "acct", DOMAIN)["id"])
        store.add_record(zone_id, DOMAIN, "TXT", '"v=spf1 ip4:127.0.0.1 -all"', 300)
        store.add_record(zone_id, f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=reject", 300)
        with DnsServer(store.path, HOST, 0) as dns_server:
            mail_db = tmp_path / "mail.sqlite3"
            with SmtpReceiver(mail_db, HOST, 0, dns=(HOST, dns_server.port)) as mx:
                yield Lab(store, zone_id, dns_server, mx, mail_db)


def signed_message(key: DkimKey, subject: str = "Spring sale") -> bytes:
    message = EmailMessage()
    message["From"] = f"Shop <news@{DOMAIN}>"
    message["To"] = "alice@lab"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=DOMAIN)
    message.set_content("Twenty percent off all seeds this week.\n")
    raw = message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signature: bytes = dkim.sign(raw, SELECTOR.encode(), DOMAIN.encode(), key.private_pem)
    return signature + raw


def send(lab: Lab, raw: bytes, mail_from: str = f"bounce@{DOMAIN}", tls: bool = False) -> None:
    with smtplib.SMTP(HOST, lab.mx.port, local_hostname=f"out.{DOMAIN}", timeout=10) as client:
        if tls:
            # Trust exactly the receiver's self-signed certificate, checked for real.
            client.starttls(context=ssl.create_default_context(cadata=lab.mx.certificate_pem))
        client.sendmail(mail_from, ["alice@lab"], raw)


def test_signed_mail_from_a_listed_ip_passes_everything(
    lab: Lab, keys: tuple[DkimKey, DkimKey]
) -> None:
    lab.publish(f"{SELECTOR}._domainkey.{DOMAIN}", "TXT", keys[0].dns_txt)
    send(lab, signed_message(keys[0]))
    received = wait_for_message(lab.mail_db, timeout=10)
    assert (received["spf"], received["dkim"], received["dmarc"]) == ("pass", "pass", "pass")
    assert (received["dkim_domain"], received["dkim_selector"]) == (DOMAIN, SELECTOR)
    assert received["dmarc_policy"] == "reject"
    assert received["auth_results"] == (
        f"mx.lab; spf=pass smtp.mailfrom={DOMAIN}; dkim=pass header.d={DOMAIN} "
        f"header.s={SELECTOR}; dmarc=pass (p=reject) header.from={DOMAIN}"
    )


def test_the_envelope_and_message_are_recorded(lab: Lab, keys: tuple[DkimKey, DkimKey]) -> None:
    raw = signed_message(keys[0], subject="Recorded")
    send(lab, raw)
    received = wait_for_message(lab.mail_db, lambda m: header(m, "Subject") == "Recorded")
    assert received["peer"] == HOST
    assert received["helo"] == f"out.{DOMAIN}"
    assert received["mail_from"] == f"bounce@{DOMAIN}"
    assert received["rcpt_to"] == ["alice@lab"]
    assert received["raw"].replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert header(received, "DKIM-Signature") is not None
    assert received["tls"] is False
    assert [m["id"] for m in messages(lab.mail_db, rcpt="ALICE@lab")] == [received["id"]]
    assert messages(lab.mail_db, rcpt="bob@lab") == []


def test_verdicts_are_looked_up_in_the_lab_dns(lab: Lab, keys: tuple[DkimKey, DkimKey]) -> None:
    lab.publish(f"{SELECTOR}._domainkey.{DOMAIN}", "TXT", keys[0].dns_txt)
    send(lab, signed_message(keys[0]))
    wait_for_message(lab.mail_db)
    asked = {(name, rdtype) for _, name, rdtype in lab.dns.queries}
    assert (DOMAIN, "TXT") in asked  # SPF (pyspf)
    assert (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT") in asked  # DKIM key (dkimpy)
    assert (f"_dmarc.{DOMAIN}", "TXT") in asked


def test_a_wrong_published_key_fails_dkim_and_dmarc_still_passes_on_spf(
    lab: Lab, keys: tuple[DkimKey, DkimKey]
) -> None:
    lab.publish(f"{SELECTOR}._domainkey.{DOMAIN}", "TXT", keys[1].dns_txt)
    send(lab, signed_message(keys[0]))
    received = wait_for_message(lab.mail_db)
    assert received["dkim"] == "fail"
    assert received["dmarc"] == "pass"  # SPF passes, aligned with the From domain


def test_a_message_altered_after_signing_fails_dkim(
    lab: Lab, keys: tuple[DkimKey, DkimKey]
) -> None:
    lab.publish(f"{SELECTOR}._domainkey.{DOMAIN}", "TXT", keys[0].dns_txt)
    raw = signed_message(keys[0]).replace(b"Twenty percent", b"Ninety percent")
    send(lab, raw)
    assert wait_for_message(lab.mail_db)["dkim"] == "fail"


def test_spf_fails_when_the_sender_ip_is_not_listed(
    lab: Lab, keys: tuple[DkimKey, DkimKey]
) -> None:
    [spf] = lab.store.records(lab.zone_id, type="TXT", name=DOMAIN)
    lab.store.update_record(spf["id"], content='"v=spf1 ip4:192.0.2.1 -all"')
    send(lab, signed_message(keys[0]))  # no DKIM key published either
    received = wait_for_message(lab.mail_db)
    assert received["spf"] == "fail"
    assert received["dkim"] == "permerror"  # signed, but no key to check against
    assert (received["dmarc"], received["dmarc_policy"]) == ("fail", "reject")


def test_spf_pass_for_another_domain_does_not_align_for_dmarc(
    lab: Lab, keys: tuple[DkimKey, DkimKey]
) -> None:
    other = str(lab.store.create_zone("cloudflare", "acct", "bulk-sender.example")["id"])
    lab.store.add_record(other, "bulk-sender.example", "TXT", "v=spf1 ip4:127.0.0.1 -all", 300)
    send(lab, signed_message(keys[0]), mail_from="bounce@bulk-sender.example")
    received = wait_for_message(lab.mail_db)
    assert received["spf"] == "pass"
    assert received["dmarc"] == "fail"


def test_unsigned_mail_without_policy_is_dkim_none_and_dmarc_none(lab: Lab) -> None:
    message = EmailMessage()
    message["From"] = "someone@lab"
    message["To"] = "alice@lab"
    message["Subject"] = "plain"
    message.set_content("hello\n")
    send(lab, message.as_bytes(), mail_from="someone@lab")
    received = wait_for_message(lab.mail_db)
    assert (received["dkim"], received["dmarc"]) == ("none", "none")
    assert received["spf"] == "none"  # "lab" has no SPF record


def test_starttls_is_offered_and_recorded(lab: Lab, keys: tuple[DkimKey, DkimKey]) -> None:
    send(lab, signed_message(keys[0]), tls=True)
    assert wait_for_message(lab.mail_db)["tls"] is True


def test_only_listed_domains_are_accepted_when_given(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite3"
    with (
        SmtpReceiver(db, HOST, 0, dns=(HOST, 9), domains=["lab"]) as mx,
        smtplib.SMTP(HOST, mx.port, timeout=10) as client,
    ):
        client.ehlo("out.example")
        client.mail("a@example.com")
        assert client.rcpt("bob@lab")[0] == 250
        assert client.rcpt("bob@elsewhere.example")[0] == 550


def test_wait_for_message_times_out(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError):
        wait_for_message(tmp_path / "none.sqlite3", timeout=0.2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def test_the_command_line_receiver_records_mail(lab: Lab, tmp_path: Path) -> None:
    port, mail_db = free_port(), tmp_path / "cli-mail.sqlite3"
    command = [sys.executable, "-m", "lab.smtpreceiver", "--db", str(mail_db)]
    command += ["--listen", HOST, "--port", str(port), "--dns", f"{HOST}:{lab.dns.port}"]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client = smtplib.SMTP(HOST, port, local_hostname=f"out.{DOMAIN}", timeout=5)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "lab.smtpreceiver did not start"
                time.sleep(0.05)
        with client:
            client.sendmail(f"bounce@{DOMAIN}", ["alice@lab"], b"From: news@shop.example\r\n\r\nhi")
        assert wait_for_message(mail_db)["spf"] == "pass"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
