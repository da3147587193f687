"""Bounces of the notices, over real SMTP both ways: refused while sending, or sent back
later by the receiving server as a delivery status notification to the notice's own
bounce address, which ``mailpanel inbound`` takes and the notice records."""

from __future__ import annotations

import csv
import io
import smtplib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from lab.smtp_bounce import build_dsn
from lab.smtp_store import header, messages
from mailpanel.inbound.models import InboundMessage
from mailpanel.inbound.receiver import InboundReceiver, running_receiver
from mailpanel.mail import bounce_address, bounce_tag
from mailpanel.privacy.bounces import permanent_failures
from mailpanel.privacy.breach import ALL, send_notices, start_sending
from mailpanel.privacy.models import (
    BreachNotice,
    Incident,
    NoticeState,
    PolicyNotice,
    PolicyVersion,
)
from mailpanel.privacy.policy import release_stranded, start_notice, stranded
from mailpanel.privacy.policy import send_notices as send_policy_notices
from tests.factories import UserFactory
from tests.helpers import drain, lab_mail_receiver, staff_client_with_2fa

pytestmark = pytest.mark.django_db(transaction=True)

FINE = "fine@example.test"
REFUSED = "refused@example.test"
GONE = "gone@example.test"
SLOW = "slow@example.test"


@pytest.fixture(autouse=True)
def fresh_limits() -> Iterator[None]:
    """The staff sign-ins here would meet the login limit of earlier tests (in the cache)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def inbound(tmp_path: Path, settings: Any) -> Iterator[InboundReceiver]:
    settings.DATA_DIR = tmp_path / "data"
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture
def failing_mx(tmp_path: Path, settings: Any, inbound: InboundReceiver) -> Iterator[Path]:
    """The lab receiver: refuses REFUSED at RCPT, accepts GONE and SLOW and then mails a DSN
    (failed, delayed) to the envelope sender through the panel's inbound receiver."""
    with lab_mail_receiver(
        tmp_path,
        settings,
        refuse=[REFUSED],
        bounce=[GONE],
        delay=[SLOW],
        relay=(inbound.host, inbound.port),
    ) as db:
        yield db


def an_incident() -> Incident:
    return Incident.objects.create(
        title="Token store read",
        aware_at=timezone.now() - timedelta(hours=1),
        what_happened="A backup was read.",
        categories=["account"],
        audience={"kind": ALL},
        notice_subject="A security incident concerning your account",
        notice_text="We revoked every token.",
    )


def notice_of(incident: Incident, email: str) -> BreachNotice:
    return BreachNotice.objects.get(incident=incident, email=email)


# --- the bounce address -----------------------------------------------------------------


def test_a_bounce_address_names_its_tag_only_with_the_right_mac() -> None:
    address = bounce_address("b42")
    local, _, domain = address.partition("@")
    assert domain == settings.MAIL_DOMAIN
    assert local.startswith("bounces+b42.") and len(local) <= 64  # RFC 5321 4.5.3.1.1
    assert bounce_tag(address) == "b42"
    assert bounce_tag(address.upper()) == "b42"  # some relays change the case
    assert bounce_tag(address.replace("b42.", "b43.")) is None  # another notice: MAC wrong
    assert bounce_tag(local + "@elsewhere.test") is None
    assert bounce_tag("bounces+b42@" + domain) is None
    assert bounce_tag(settings.PRIVACY_EMAIL) is None
    with pytest.raises(ValueError, match="bounce tag"):
        bounce_address("B-42")


def test_the_receiver_refuses_a_made_up_bounce_address(inbound: InboundReceiver) -> None:
    forged = bounce_address("b7").replace("b7.", "b8.")
    raw = b"From: x@example.test\r\nSubject: hi\r\nMessage-ID: <f@x>\r\n\r\nhi\r\n"
    with (
        smtplib.SMTP(inbound.host, inbound.port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        smtp.sendmail("", [forged], raw)
    assert refused.value.recipients[forged][0] == 550
    assert not InboundMessage.objects.exists()


def test_only_a_permanent_failure_in_a_dsn_counts() -> None:
    raw = b"From: panel@x\r\nTo: u@example.test\r\nMessage-ID: <n@x>\r\n\r\nhi\r\n"
    failed = build_dsn(raw, "u@example.test", "b@x", reporting_mta="mx.lab")
    delayed = build_dsn(raw, "u@example.test", "b@x", reporting_mta="mx.lab", delayed=True)
    (failure,) = permanent_failures(failed)
    assert failure.recipient == "u@example.test"
    assert failure.reason.startswith("5.1.1 smtp; 550 5.1.1")
    assert "\n" not in failure.reason
    assert permanent_failures(delayed) == []
    assert permanent_failures(b"Subject: Out of office\r\n\r\nI am away.\r\n") == []
    assert permanent_failures(b"\xff\xfe not mail at all") == []


# --- breach notices ----------------------------------------------------------------------


def test_breach_notices_record_a_refusal_and_a_later_bounce_and_nothing_else(
    failing_mx: Path, queue: Huey, settings: Any
) -> None:
    for address in (FINE, REFUSED, GONE, SLOW):
        UserFactory.create(email=address)
    incident = an_incident()
    start_sending(incident)
    drain(queue)  # the sending task; the DSNs arrive at the inbound receiver meanwhile
    drain(queue)  # their routing

    fine, slow = notice_of(incident, FINE), notice_of(incident, SLOW)
    assert (fine.state, fine.bounced_at) == (NoticeState.SENT, None)
    assert (slow.state, slow.bounced_at) == (NoticeState.SENT, None)  # delayed: not a bounce
    refused = notice_of(incident, REFUSED)
    assert refused.state == NoticeState.BOUNCED and refused.bounced_at is not None
    assert refused.error.startswith("550 5.1.1") and refused.sent_at is None
    gone = notice_of(incident, GONE)
    assert gone.state == NoticeState.BOUNCED and gone.sent_at is not None
    assert gone.bounced_at is not None and gone.bounced_at >= gone.sent_at
    assert "5.1.1" in gone.error and "User unknown" in gone.error

    # What went out: the envelope sender names each notice, the From header is ours.
    (at_gone,) = messages(failing_mx, GONE)
    assert bounce_tag(at_gone["mail_from"]) == f"b{gone.pk}"
    assert header(at_gone, "From") == settings.DEFAULT_FROM_EMAIL
    # The bounces were taken and not kept: no row, no raw file.
    assert not InboundMessage.objects.exists()
    assert not list((Path(settings.DATA_DIR) / "inbound").glob("*.eml"))

    # A bounced notice is not sent again by the next run, nor by staff's retry.
    before = len(messages(failing_mx))
    assert send_notices(incident.pk) == 0
    assert len(messages(failing_mx)) == before
    assert notice_of(incident, REFUSED).attempts == 1


def test_the_incident_page_counts_the_bounced(failing_mx: Path, queue: Huey) -> None:
    for address in (FINE, GONE):
        UserFactory.create(email=address)
    incident = an_incident()
    start_sending(incident)
    drain(queue)
    drain(queue)
    staff = staff_client_with_2fa("staff@example.test")
    page = staff.get(reverse("admin:privacy_incident_change", args=[incident.pk]))
    counts = page.content.decode().split('id="breach-counts">')[1].split("</tr>")[0]
    cells = [cell.strip() for cell in counts.replace("</td>", "").split("<td>")[1:]]
    assert cells == ["0", "1", "0", "1", "2"]  # queued, sent, failed, bounced, all
    listing = staff.get(reverse("admin:privacy_incident_csv", args=[incident.pk]))
    rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(listing.getvalue().decode()))}
    assert rows["email"] == ["state", "sent_at", "bounced_at", "reason"]
    state, sent_at, bounced_at, reason = rows[GONE]
    assert state == "bounced" and sent_at and bounced_at >= sent_at
    assert "User unknown" in reason
    assert rows[FINE][0] == "sent" and rows[FINE][2:] == ["", ""]


def test_mail_to_a_bounce_address_that_is_no_dsn_changes_nothing(
    failing_mx: Path, inbound: InboundReceiver, queue: Huey
) -> None:
    UserFactory.create(email=FINE)
    incident = an_incident()
    start_sending(incident)
    drain(queue)
    (sent,) = messages(failing_mx, FINE)
    auto_reply = (
        b"From: fine@example.test\r\nSubject: Out of office\r\nMessage-ID: <ooo@example.test>\r\n"
        b"Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n"
    )
    with smtplib.SMTP(inbound.host, inbound.port, timeout=10) as smtp:
        smtp.sendmail("", [sent["mail_from"]], auto_reply)
    drain(queue)
    assert notice_of(incident, FINE).state == NoticeState.SENT
    assert not InboundMessage.objects.exists()


# --- policy notices ----------------------------------------------------------------------


def a_material_version() -> PolicyVersion:
    return PolicyVersion.objects.create(
        version="2099-01-01",
        published_at=timezone.now() + timedelta(days=40),
        material=True,
        summary="Longer retention of sign-ins.",
        text="# Privacy\n\nNew text.",
    )


def test_a_policy_notice_that_bounces_is_recorded_and_counted_for_staff(
    failing_mx: Path, queue: Huey
) -> None:
    for address in (FINE, GONE, REFUSED):
        UserFactory.create(email=address)
    policy = a_material_version()
    start_notice(policy)
    drain(queue)
    drain(queue)
    states = {n.user.email: n for n in PolicyNotice.objects.filter(policy=policy)}
    assert states[FINE].state == NoticeState.SENT
    assert states[GONE].state == NoticeState.BOUNCED and states[GONE].bounced_at is not None
    assert states[REFUSED].state == NoticeState.BOUNCED and "550" in states[REFUSED].error
    assert send_policy_notices(policy.pk).sent == 0  # neither is mailed again

    staff = staff_client_with_2fa("staff@example.test")
    listing = staff.get(reverse("admin:privacy_policyversion_changelist")).content.decode()
    assert "1 of 3 mailed, 0 failed, 2 bounced" in listing


def test_a_notice_stranded_by_a_dead_worker_waits_for_staff_then_goes_once(
    failing_mx: Path, queue: Huey
) -> None:
    user = UserFactory.create(email=FINE)
    policy = a_material_version()
    start_notice(policy)
    queue.flush()  # the worker died: it claimed the notice and never marked it
    PolicyNotice.objects.filter(user=user).update(
        message_id="<claimed@x>", attempts=1, claimed_at=timezone.now() - timedelta(minutes=5)
    )
    assert not stranded(policy).exists()  # too recent: a live run may still mark it
    PolicyNotice.objects.filter(user=user).update(claimed_at=timezone.now() - timedelta(hours=1))
    assert send_policy_notices(policy.pk).sent == 0  # never mailed again on its own
    assert stranded(policy).count() == 1

    staff = staff_client_with_2fa("staff@example.test")
    listing = staff.get(reverse("admin:privacy_policyversion_changelist")).content.decode()
    assert "1 stranded by a stopped worker" in listing
    response = staff.post(
        reverse("admin:privacy_policyversion_changelist"),
        {"action": "release_stranded", "_selected_action": [policy.pk]},
    )
    assert response.status_code == 302
    drain(queue)
    assert PolicyNotice.objects.get(user=user).state == NoticeState.SENT
    assert len(messages(failing_mx, FINE)) == 1
    assert release_stranded(policy) == 0


def test_staff_without_change_permission_cannot_release(failing_mx: Path) -> None:
    client = Client()
    response = client.post(
        reverse("admin:privacy_policyversion_changelist"),
        {"action": "release_stranded", "_selected_action": [a_material_version().pk]},
    )
    assert response.status_code == 302 and "/login" in response["Location"]
