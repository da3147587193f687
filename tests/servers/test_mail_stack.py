"""End to end on lab hosts: add, confirm the key, provision, domain, SMTP user, mail out."""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from lab.smtp_store import messages, wait_for_message
from lab.zonestore import ZoneStore
from mailpanel.accounts.models import User
from mailpanel.domains.claims import instructions
from mailpanel.domains.models import SendingDomain
from mailpanel.jobs.models import JobState
from mailpanel.servers.models import HostKeyState, Server
from tests.dns.support import make_domain
from tests.helpers import drain
from tests.servers.conftest import (
    RECEIVER_DOMAIN,
    log_text,
    pinned_server,
    publish_dkim,
    root_key,
    run,
    ssh_root,
)

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]

SENDING_DOMAIN = "sender.test"


def test_add_confirm_provision_and_send_a_dkim_signed_message(
    user: User, lab_dns: Any, bare_host: Any, zones: ZoneStore, queue: Huey
) -> None:
    host = bare_host
    client = Client()
    client.force_login(user)
    key = root_key(user, host)

    response = client.post(
        reverse("server_add"),
        {
            "name": "mail1",
            "host": host.address,
            "port": 22,
            "username": "root",
            "credential": key.pk,
            "mail_hostname": f"{host.name}.lab",
            "tls_mode": "self_signed",
        },
    )
    assert response.status_code == 302, response.content.decode()[-800:]
    page = client.get(response["Location"]).content.decode()
    shown = re.search(r"data-fingerprint>([^<]+)<", page)
    assert shown and shown.group(1) == host.host_key_fingerprint
    confirmed = client.post(response["Location"], {"fingerprint": shown.group(1)})
    assert confirmed.status_code == 302
    drain(queue)
    server = Server.objects.get(owner=user)
    assert server.host_key_state == HostKeyState.CONFIRMED
    assert server.facts["os_id"] == "debian" and server.facts["os_version"] == "12"
    assert server.facts["ptr"][host.address] == f"{host.name}.lab"

    assert "postfix" not in server.facts["packages"]  # a bare Debian: nothing installed yet
    first = run(server, "server.converge", queue)
    assert first.state == JobState.SUCCEEDED, log_text(first) + first.error
    assert "apt-get -q -y" in log_text(first) and "installed postfix" in log_text(first)
    assert "$ postfix check" in log_text(first)

    client.post(
        reverse("domain_add"), {"name": SENDING_DOMAIN, "server": server.pk, "dmarc_policy": "none"}
    )
    added = SendingDomain.objects.get(owner=user, name=SENDING_DOMAIN)
    claim = instructions(added)
    publish_dkim(zones, SENDING_DOMAIN, claim.name, claim.value)  # the TXT proving control
    client.post(reverse("domain_verify", args=[added.pk]))
    drain(queue)
    domain = SendingDomain.objects.get(owner=user, name=SENDING_DOMAIN)
    assert domain.signing_since is not None  # the converge that added its key succeeded
    created = client.post(reverse("domain_smtp_user_add", args=[domain.pk]), {"local_part": "news"})
    password = re.search(r"data-smtp-password>([^<]+)<", created.content.decode())
    assert password, "the generated password is shown once"
    drain(queue)
    dkim_key = domain.active_key
    assert dkim_key is not None
    publish_dkim(zones, domain.name, dkim_key.record_name, dkim_key.record_value)

    recipient = f"reader-{time.monotonic_ns()}@{RECEIVER_DOMAIN}"
    submit(host.address, f"news@{SENDING_DOMAIN}", password.group(1), recipient)

    message = wait_for_message(lab_dns.mail_db, lambda m: recipient in m["rcpt_to"], timeout=30)
    assert message["dkim"] == "pass", message["auth_results"]
    assert message["dkim_domain"] == SENDING_DOMAIN
    assert message["dkim_selector"] == domain.active_key.selector  # type: ignore[union-attr]
    assert message["tls"] is True or message["tls"] == 1

    # The panel's own "send a test message" goes through sendmail and is signed too.
    other = f"reader-{time.monotonic_ns()}@{RECEIVER_DOMAIN}"
    sent = run(server, "server.testmail", queue, sender=f"news@{SENDING_DOMAIN}", recipient=other)
    assert sent.state == JobState.SUCCEEDED, log_text(sent) + sent.error
    test_mail = wait_for_message(lab_dns.mail_db, lambda m: other in m["rcpt_to"], timeout=30)
    if test_mail["dkim"] != "pass":
        print(log_text(run(server, "server.maillog", queue, lines=60, filter="")))
    assert test_mail["dkim"] == "pass", test_mail["auth_results"]

    again = run(server, "server.converge", queue)
    assert again.state == JobState.SUCCEEDED
    assert "Already converged: no change." in log_text(again)
    assert again.duration_seconds is not None and again.duration_seconds < 3.0


def submit(address: str, login: str, password: str, recipient: str) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the lab host has a self-signed certificate
    with smtplib.SMTP(address, 587, timeout=20) as smtp:
        smtp.ehlo("client.test")
        smtp.starttls(context=context)
        smtp.ehlo("client.test")
        smtp.login(login, password)
        smtp.sendmail(
            login,
            [recipient],
            (
                f"From: {login}\r\nTo: {recipient}\r\nSubject: lab test\r\n"
                f"Message-ID: <{time.monotonic_ns()}@{SENDING_DOMAIN}>\r\n"
                "\r\nHello from the lab.\r\n"
            ),
        )


def test_a_test_message_never_leaves_unsigned(
    user: User, lab_dns: Any, zones: ZoneStore, queue: Huey
) -> None:
    host = lab_dns.hosts[0]
    server = pinned_server(user, host)
    assert run(server, "server.converge", queue).state == JobState.SUCCEEDED
    # A domain the server has not converged for yet (its converge is still to come).
    domain = make_domain(user, server, "unsigned.sender.test")
    assert domain.signing_since is None
    recipient = f"early-{time.monotonic_ns()}@{RECEIVER_DOMAIN}"
    sender = f"postmaster@{domain.name}"

    early = run(server, "server.testmail", queue, sender=sender, recipient=recipient)
    assert early.state == JobState.FAILED
    assert "does not sign mail from unsigned.sender.test yet" in early.error
    assert "sendmail" not in log_text(early)

    assert run(server, "server.converge", queue).state == JobState.SUCCEEDED
    domain.refresh_from_db()
    assert domain.signing_since is not None
    ssh_root(host, "systemctl", "stop", "opendkim")
    stopped = run(server, "server.testmail", queue, sender=sender, recipient=recipient)
    assert stopped.state == JobState.FAILED
    assert "OpenDKIM is inactive on this server" in stopped.error
    assert "sendmail" not in log_text(stopped)

    assert "started opendkim" in log_text(run(server, "server.converge", queue))
    key = domain.active_key
    assert key is not None
    publish_dkim(zones, domain.name, key.record_name, key.record_value)
    sent = run(server, "server.testmail", queue, sender=sender, recipient=recipient)
    assert sent.state == JobState.SUCCEEDED, log_text(sent) + sent.error
    message = wait_for_message(lab_dns.mail_db, lambda m: recipient in m["rcpt_to"], timeout=30)
    assert message["dkim"] == "pass", message["auth_results"]
    assert len(messages(lab_dns.mail_db, rcpt=recipient)) == 1  # the refused two never left


def test_the_server_is_not_an_open_relay(user: User, lab_dns: Any, queue: Huey) -> None:
    host = lab_dns.hosts[0]
    server = pinned_server(user, host)
    assert run(server, "server.converge", queue).state == JobState.SUCCEEDED

    with smtplib.SMTP(host.address, 25, timeout=20) as smtp:
        smtp.ehlo("stranger.test")
        smtp.mail("spammer@stranger.test")
        code, reply = smtp.rcpt("victim@elsewhere.test")
    assert code == 554 and b"Relay access denied" in reply
    with smtplib.SMTP(host.address, 587, timeout=20) as smtp:
        smtp.ehlo("stranger.test")
        with pytest.raises(smtplib.SMTPException):
            smtp.login("news@sender.test", "guess")  # no AUTH before TLS


def test_actions_on_the_server_run_as_jobs_with_their_commands_logged(
    user: User, lab_dns: Any, queue: Huey
) -> None:
    server = pinned_server(user, lab_dns.hosts[0])
    run(server, "server.converge", queue)

    health = run(server, "server.health", queue)
    assert health.state == JobState.SUCCEEDED, log_text(health) + health.error
    assert "postfix: active" in log_text(health)
    listing = run(server, "server.queue", queue, action="list", queue_id="")
    assert "$ postqueue -j" in log_text(listing)
    restart = run(server, "server.restart", queue, service="opendkim")
    assert "opendkim is active" in log_text(restart)
    logs = run(server, "server.maillog", queue, lines=20, filter="postfix")
    assert logs.state == JobState.SUCCEEDED
    refused = run(server, "server.restart", queue, service="sshd")
    assert refused.state == JobState.FAILED and "restarts only" in refused.error


def test_queue_operations_hold_release_and_delete_a_deferred_message(
    user: User, lab_dns: Any, queue: Huey
) -> None:
    host = lab_dns.hosts[0]
    server = pinned_server(user, host)
    assert run(server, "server.converge", queue).state == JobState.SUCCEEDED
    # No MX anywhere for this name: the message waits in the deferred queue.
    ssh_root(host, "sh", "-c", "printf 'Subject: stuck\\n\\nx\\n' | sendmail nobody@stuck.invalid")
    queue_id = ""
    for _ in range(50):
        listing = log_text(run(server, "server.queue", queue, action="list", queue_id=""))
        found = re.search(r"^([0-9A-F]{6,})\s\[\w+\].*nobody@stuck\.invalid", listing, re.M)
        if found:
            queue_id = found.group(1)
            break
        time.sleep(0.2)
    assert queue_id, listing

    held = run(server, "server.queue", queue, action="hold", queue_id=queue_id)
    assert held.state == JobState.SUCCEEDED, held.error
    assert f"{queue_id} [hold]" in log_text(
        run(server, "server.queue", queue, action="list", queue_id="")
    )
    run(server, "server.queue", queue, action="release", queue_id=queue_id)
    deleted = run(server, "server.queue", queue, action="delete", queue_id=queue_id)
    assert deleted.state == JobState.SUCCEEDED
    assert queue_id not in log_text(run(server, "server.queue", queue, action="list", queue_id=""))
    refused = run(server, "server.queue", queue, action="delete", queue_id="ID;rm -rf /")
    assert refused.state == JobState.FAILED and "queue id is letters and digits" in refused.error


def test_submission_on_465_needs_tls_and_auth(user: User, lab_dns: Any, queue: Huey) -> None:
    host = lab_dns.hosts[0]
    server = pinned_server(user, host)
    assert run(server, "server.converge", queue).state == JobState.SUCCEEDED
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP_SSL(host.address, 465, timeout=20, context=context) as smtp:
        smtp.ehlo("client.test")
        assert smtp.has_extn("auth")
        smtp.mail("someone@sender.test")
        code, _ = smtp.rcpt("victim@elsewhere.test")
    assert code == 554  # no relaying without AUTH, even inside TLS
