"""Data requests: filed in the panel or by mail, confirmed signed in, fulfilled by staff."""

from __future__ import annotations

import email
import email.policy
import smtplib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.mail import EmailMessage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from lab.smtp_store import Message, header
from lab.smtpreceiver import wait_for_message
from mailpanel.accounts.models import User
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.routing import route_message
from mailpanel.privacy import requests
from mailpanel.privacy.exports import request_export
from mailpanel.privacy.models import DataExport, DataRequest, RequestKind, RequestState
from tests.helpers import drain, staff_client_with_2fa
from tests.privacy.estate import build_estate
from tests.privacy.request_helpers import (  # noqa: F401  (fixtures)
    confirm_path,
    empty_cache,
    inbound,
    sent_to,
    staff_notices,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_notices", "empty_cache"),
]
HOST = "127.0.0.1"


def admin_url(name: str, req: DataRequest) -> str:
    return reverse(f"admin:privacy_datarequest_{name}", args=[req.pk])


@pytest.fixture
def staff() -> Client:
    return staff_client_with_2fa("staff@example.test")


# --- in the panel -----------------------------------------------------------------------


def test_a_request_made_in_the_panel_is_open_at_once_and_acknowledged_with_its_reference(
    owner_client: Client, other_client: Client, user: User, mailoutbox: list[EmailMessage]
) -> None:
    page = owner_client.get(reverse("privacy_request_new"))
    assert page.status_code == 200

    response = owner_client.post(
        reverse("privacy_request_new"), {"kind": "access", "details": "What do you hold?"}
    )

    req = DataRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("privacy_request", args=[req.pk])
    assert req.state == RequestState.OPEN and req.user == user and req.channel == "panel"
    assert req.reference.startswith("DR-") and len(req.reference) == 9
    assert req.due_at == req.received_at + timedelta(days=30)
    (ack,) = sent_to(mailoutbox, user.email)
    assert req.reference in ack.subject
    assert req.reference in ack.body
    assert f"{req.due_at:%-d %B %Y}" in ack.body
    assert "we know it is you" in ack.body
    assert ack.extra_headers["Auto-Submitted"] == "auto-generated"
    detail = owner_client.get(response["Location"])
    assert detail.status_code == 200
    assert b"filed in the panel" in detail.content
    assert req.reference.encode() in owner_client.get(reverse("privacy_your_data")).content
    assert other_client.get(response["Location"]).status_code == 404
    assert req.reference.encode() not in other_client.get(reverse("privacy_your_data")).content


def test_a_correction_without_details_is_asked_for_them(owner_client: Client) -> None:
    response = owner_client.post(reverse("privacy_request_new"), {"kind": "correction"})

    assert response.status_code == 400
    assert b"Tell us what you would like" in response.content
    assert not DataRequest.objects.exists()


def test_details_longer_than_5000_characters_are_refused(owner_client: Client) -> None:
    response = owner_client.post(
        reverse("privacy_request_new"), {"kind": "other", "details": "x" * 5001}
    )

    assert response.status_code == 400
    assert not DataRequest.objects.exists()


# --- by mail ----------------------------------------------------------------------------


def test_mail_from_an_accounts_address_waits_for_its_signed_in_confirmation(
    user: User, owner_client: Client, mailoutbox: list[EmailMessage]
) -> None:
    message = inbound(user.email)

    assert route_message(message.pk) == "data_request"

    req = DataRequest.objects.get()
    assert req.state == RequestState.AWAITING_CONFIRMATION
    assert req.kind == RequestKind.EXPORT
    assert req.user == user and req.inbound == message and req.channel == "mail"
    assert req.due_at == message.received_at + timedelta(days=30)
    (ack,) = sent_to(mailoutbox, user.email)
    assert req.reference in ack.subject
    assert ack.extra_headers["In-Reply-To"] == message.message_id
    path = confirm_path(ack.body)

    page = owner_client.get(path)
    assert page.status_code == 200
    assert b"Is this request yours?" in page.content
    req.refresh_from_db()
    assert req.state == RequestState.AWAITING_CONFIRMATION  # opening the page does nothing

    response = owner_client.post(path, {"decision": "confirm"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.state == RequestState.OPEN and req.confirmed_at is not None
    assert [e.action for e in req.events.all()] == [
        "received by mail",
        "mail sent",
        "confirmed by the account holder",
    ]
    assert req.events.get(action="mail sent").note == "We received your data request"
    assert req.events.last().actor == user  # type: ignore[union-attr]


def test_the_link_opened_signed_in_as_another_account_is_refused_and_changes_nothing(
    user: User, other_client: Client, mailoutbox: list[EmailMessage]
) -> None:
    requests.file_from_mail(inbound(user.email))
    path = confirm_path(sent_to(mailoutbox, user.email)[0].body)

    for response in (other_client.get(path), other_client.post(path, {"decision": "confirm"})):
        assert response.status_code == 403
        assert b"made for another account" in response.content
    req = DataRequest.objects.get()
    assert req.state == RequestState.AWAITING_CONFIRMATION
    assert req.events.filter(action__startswith="confirmed").count() == 0


def test_the_link_opened_signed_out_asks_to_sign_in_and_comes_back(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    requests.file_from_mail(inbound(user.email))
    path = confirm_path(sent_to(mailoutbox, user.email)[0].body)

    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=/account/data/requests/confirm/" in response["Location"]


def test_an_expired_link_is_refused(
    user: User, owner_client: Client, mailoutbox: list[EmailMessage]
) -> None:
    requests.file_from_mail(inbound(user.email))
    path = confirm_path(sent_to(mailoutbox, user.email)[0].body)

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = owner_client.post(path, {"decision": "confirm"})

    assert response.status_code == 410
    assert b"expired" in response.content
    assert DataRequest.objects.get().state == RequestState.AWAITING_CONFIRMATION


def test_a_tampered_link_is_refused(owner_client: Client, user: User) -> None:
    req = DataRequest.objects.create(
        reference="DR-TAMPER",
        user=user,
        email=user.email,
        kind="export",
        state=RequestState.AWAITING_CONFIRMATION,
        due_at=timezone.now(),
    )
    token = requests.confirmation_token(req)

    response = owner_client.get(f"/account/data/requests/confirm/{token[:-2]}xx/")

    assert response.status_code == 400


def test_the_account_holder_can_say_it_was_not_them(
    user: User, owner_client: Client, mailoutbox: list[EmailMessage]
) -> None:
    requests.file_from_mail(inbound(user.email, subject="data request: delete my account"))
    path = confirm_path(sent_to(mailoutbox, user.email)[0].body)

    owner_client.post(path, {"decision": "disown"})

    req = DataRequest.objects.get()
    assert req.kind == RequestKind.DELETION
    assert req.state == RequestState.REFUSED and req.closed_at is not None
    assert owner_client.post(path, {"decision": "confirm"}).status_code == 409


def test_mail_from_an_unknown_address_waits_for_staff_to_verify_the_identity(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    route_message(inbound("stranger@example.test", subject="Data Request", text_body="").pk)

    req = DataRequest.objects.get()
    assert req.state == RequestState.IDENTITY_NOT_VERIFIED
    assert req.user is None and req.email == "stranger@example.test"
    assert req.kind == RequestKind.OTHER
    (ack,) = sent_to(mailoutbox, "stranger@example.test")
    assert req.reference in ack.body
    assert "verify your identity" in ack.body
    assert "/confirm/" not in ack.body
    assert sent_to(mailoutbox, user.email) == []


def test_the_same_message_twice_is_one_request_and_one_acknowledgement(
    user: User, mailoutbox: list[EmailMessage]
) -> None:
    message = inbound(user.email)

    requests.file_from_mail(message)
    requests.file_from_mail(message)

    assert DataRequest.objects.count() == 1
    assert len(sent_to(mailoutbox, user.email)) == 1


@pytest.mark.parametrize(
    ("subject", "body", "kind"),
    [
        ("Re: data request - please export", "", RequestKind.EXPORT),
        ("data request", "I want a copy of my data", RequestKind.EXPORT),
        ("data request", "Data portability please", RequestKind.EXPORT),
        ("Data request: erase me", "", RequestKind.DELETION),
        ("data request", "Please delete my account", RequestKind.DELETION),
        ("data request", "Please correct my name", RequestKind.CORRECTION),
        ("data request", "Restrict the processing", RequestKind.RESTRICTION),
        ("data request", "pause everything", RequestKind.RESTRICTION),
        ("data request", "I object to profiling", RequestKind.OBJECTION),
        ("data request", "Subject access request", RequestKind.ACCESS),
        ("data request", "Hello", RequestKind.OTHER),
    ],
)
def test_the_kind_is_guessed_from_the_words_of_the_mail(
    subject: str, body: str, kind: RequestKind
) -> None:
    assert requests.guess_kind(subject, body) == kind


def test_a_forged_mail_from_an_accounts_address_can_fulfil_nothing_without_confirmation(
    user: User, staff: Client
) -> None:
    requests.file_from_mail(inbound(user.email, subject="data request: delete my account"))
    req = DataRequest.objects.get()

    page = staff.get(reverse("admin:privacy_datarequest_change", args=[req.pk]))
    assert b"Fulfil: delete the account" not in page.content
    response = staff.post(admin_url("fulfil_deletion", req), follow=True)
    assert b"only an open request" in response.content
    response = staff.post(admin_url("fulfil_export", req), follow=True)
    assert b"only an open request" in response.content

    req.refresh_from_db()
    assert req.state == RequestState.AWAITING_CONFIRMATION
    assert User.objects.filter(pk=user.pk, is_active=True).exists()
    assert not DataExport.objects.exists()


# --- fulfilment by staff ----------------------------------------------------------------


def test_staff_fulfil_an_export_request_in_one_click(
    user: User, staff: Client, queue: Huey, mailoutbox: list[EmailMessage]
) -> None:
    req = requests.file_in_panel(user, "export", "")
    page = staff.get(reverse("admin:privacy_datarequest_change", args=[req.pk]))
    assert page.status_code == 200
    assert b"Fulfil: export" in page.content

    response = staff.post(admin_url("fulfil_export", req))

    assert response.status_code == 302
    export = DataExport.objects.get(owner=user)
    req.refresh_from_db()
    assert req.state == RequestState.FULFILLED and req.closed_at is not None
    event = req.events.get(action="fulfilled: export")
    assert event.actor is not None and event.actor.email == "staff@example.test"
    assert event.actor_label == "staff staff@example.test"
    reply = [m for m in sent_to(mailoutbox, user.email) if "fulfilled" in m.subject]
    assert len(reply) == 1 and "download link" in reply[0].body
    assert "Auto-Submitted" not in reply[0].extra_headers
    drain(queue)
    ready = [m for m in sent_to(mailoutbox, user.email) if "export is ready" in m.subject]
    assert reverse("privacy_export", args=[export.pk]) in ready[0].body


def test_an_export_too_soon_leaves_the_request_open_with_a_clear_message(
    user: User, staff: Client
) -> None:
    request_export(user)
    req = requests.file_in_panel(user, "export", "")

    response = staff.post(admin_url("fulfil_export", req), follow=True)

    assert b"already had an export in the last day" in response.content
    req.refresh_from_db()
    assert req.state == RequestState.OPEN
    assert DataExport.objects.filter(owner=user).count() == 1


def test_staff_fulfil_a_deletion_request_and_the_request_stays_without_the_account(
    user: User, staff: Client, mailoutbox: list[EmailMessage]
) -> None:
    build_estate(user, "olive", "OWNERSECRET1")
    address = user.email
    req = requests.file_in_panel(user, "deletion", "Delete everything.")
    assert staff.get(admin_url("fulfil_deletion", req)).status_code == 200  # the warning

    response = staff.post(admin_url("fulfil_deletion", req))

    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    req.refresh_from_db()
    assert req.user is None and req.state == RequestState.FULFILLED
    actions = [e.action for e in req.events.all()]
    assert actions[0] == "filed in the panel"
    assert "account deletion started" in actions and "fulfilled: account deleted" in actions
    assert req.events.get(action="filed in the panel").actor is None  # the account is gone
    subjects = [m.subject for m in sent_to(mailoutbox, address)]
    assert "Your account has been deleted" in subjects
    assert any(req.reference in s and "fulfilled" in s for s in subjects)
    page = staff.get(reverse("admin:privacy_datarequest_change", args=[req.pk]))
    assert page.status_code == 200 and b"account deletion started" in page.content


def test_staff_verify_an_unknown_sender_then_fulfil(
    user: User, staff: Client, mailoutbox: list[EmailMessage]
) -> None:
    requests.file_from_mail(inbound("olive.private@example.test"))
    req = DataRequest.objects.get()
    assert staff.post(admin_url("fulfil_export", req), follow=True).status_code == 200
    assert not DataExport.objects.exists()

    no_note = staff.post(admin_url("verify_identity", req), {"note": ""})
    assert no_note.status_code == 400
    staff.post(
        admin_url("verify_identity", req),
        {"note": "Called the account's phone number", "account_email": user.email},
    )
    req.refresh_from_db()
    assert req.state == RequestState.OPEN and req.user == user
    assert "Called the account" in req.events.get(action="identity verified by staff").note

    staff.post(admin_url("fulfil_export", req))
    assert DataExport.objects.filter(owner=user).exists()
    req.refresh_from_db()
    assert req.state == RequestState.FULFILLED


def test_staff_answer_by_hand_or_refuse_with_a_reason(
    user: User, staff: Client, mailoutbox: list[EmailMessage]
) -> None:
    access = requests.file_in_panel(user, "access", "")
    odd = requests.file_in_panel(user, "other", "Tell me the colour of my server")

    staff.post(admin_url("fulfil_other", access), {"text": "We hold your profile and logs."})
    staff.post(admin_url("refuse", odd), {"text": "That is not personal data."})

    access.refresh_from_db()
    odd.refresh_from_db()
    assert access.state == RequestState.FULFILLED and access.reply.startswith("We hold")
    assert odd.state == RequestState.REFUSED and odd.closed_at is not None
    bodies = [m.body for m in sent_to(mailoutbox, user.email)]
    assert any("We hold your profile and logs." in b for b in bodies)
    assert any("That is not personal data." in b for b in bodies)
    again = staff.post(admin_url("refuse", access), {"text": "again"}, follow=True)
    assert b"is fulfilled" in again.content
    assert odd.events.get(action="refused").actor_label == "staff staff@example.test"


# --- end to end, over SMTP --------------------------------------------------------------


def body_of(message: Message) -> str:
    parsed = email.message_from_bytes(message["raw"], policy=email.policy.default)
    part = parsed.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_request_by_smtp_is_acknowledged_confirmed_and_fulfilled_with_the_export_link(
    user: User, owner_client: Client, staff: Client, mx: Path, queue: Huey
) -> None:
    from mailpanel.inbound.receiver import running_receiver

    raw = (
        f"From: Olive Owner <{user.email}>\r\nTo: {settings.PRIVACY_EMAIL}\r\n"
        "Subject: Data request: a copy of my data\r\nMessage-ID: <dr-e2e@example.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease export everything.\r\n"
    ).encode()
    with running_receiver(port=0) as rx, smtplib.SMTP(rx.host, rx.port, timeout=10) as smtp:
        assert smtp.sendmail(user.email, [settings.PRIVACY_EMAIL], raw) == {}
    drain(queue)  # the routing task: the handler files the request and acknowledges it

    message = InboundMessage.objects.get(message_id="<dr-e2e@example.test>")
    assert message.routed_to == "data_request"
    req = DataRequest.objects.get(inbound=message)
    ack = wait_for_message(mx, lambda m: user.email in m["rcpt_to"])
    assert req.reference in (header(ack, "Subject") or "")
    assert header(ack, "In-Reply-To") == "<dr-e2e@example.test>"

    assert owner_client.post(confirm_path(body_of(ack)), {"decision": "confirm"}).status_code == 302
    staff.post(admin_url("fulfil_export", req))
    drain(queue)  # the export job

    ready = wait_for_message(mx, lambda m: "export is ready" in (header(m, "Subject") or ""))
    export = DataExport.objects.get(owner=user)
    assert user.email in ready["rcpt_to"]
    assert reverse("privacy_export", args=[export.pk]) in body_of(ready)
    req.refresh_from_db()
    assert req.state == RequestState.FULFILLED
