"""Flows several tests walk through the real views."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
from django.http import HttpResponseBase, StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from huey.api import Huey

from tests.factories import DEFAULT_PASSWORD


def login(client: Client, email: str, password: str = DEFAULT_PASSWORD) -> Any:
    return client.post(reverse("account_login"), {"login": email, "password": password})


def streamed(response: HttpResponseBase) -> AsyncIterator[bytes]:
    """The chunks of a streaming response from the AsyncClient, as they arrive."""
    assert isinstance(response, StreamingHttpResponse)
    chunks = response.streaming_content
    assert isinstance(chunks, AsyncIterator)
    return chunks


def enable_totp(client: Client, password: str = DEFAULT_PASSWORD) -> str:
    # Turning on 2FA is a sensitive change: allauth asks for the password again first.
    client.post(reverse("account_reauthenticate"), {"password": password})
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, response.content
    return str(secret)


def staff_client_with_2fa(email: str) -> Client:
    """A staff member signed in with password and TOTP, as the admin requires."""
    from tests.factories import UserFactory

    UserFactory.create(email=email, is_staff=True, is_superuser=True)
    client = Client()
    login(client, email)
    secret = enable_totp(client)
    client.post(reverse("account_logout"))
    login(client, email)
    response = client.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302, "TOTP sign-in failed"
    return client


def drain(queue: Huey) -> int:
    """Do what a worker does: take each task off the queue and execute it."""
    done = 0
    while (task := queue.dequeue()) is not None:
        queue.execute(task)
        done += 1
    return done


@contextmanager
def lab_mail_receiver(tmp_path: Path, settings: Any, **options: Any) -> Iterator[Path]:
    """The lab's SMTP receiver on loopback, the panel sending to it over SMTP; the path of
    its message log (lab.smtp_store). Its verdicts ask an empty lab DNS server, which
    answers at once (the discard port would cost two 3-second time-outs a message)."""
    from lab.dnsserver import DnsServer
    from lab.smtpreceiver import SmtpReceiver
    from lab.zonestore import ZoneStore

    host = "127.0.0.1"
    db = tmp_path / "mail.sqlite3"
    with (
        ZoneStore(tmp_path / "zones.sqlite3") as zones,
        DnsServer(zones.path, host, 0) as dns,
        SmtpReceiver(db, host, 0, dns=(host, dns.port), **options) as smtp,
    ):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = host, smtp.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield db
