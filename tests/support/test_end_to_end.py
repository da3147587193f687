"""By real SMTP both ways: a mail into the panel's receiver opens a thread, the
acknowledgement reaches the correspondent's server, their reply to it joins the thread, and
the staff answer carries the headers that thread it in their mail program."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from huey.api import Huey

from lab.smtp_store import header, wait_for_message
from mailpanel.inbound.receiver import running_receiver
from mailpanel.support.models import Delivery, Direction, Thread
from tests.helpers import drain, staff_client_with_2fa
from tests.support.conftest import raw_mail

pytestmark = pytest.mark.django_db(transaction=True)
ANN = "ann@example.test"


def deliver(raw: bytes, sender: str = ANN) -> None:
    with running_receiver(port=0) as rx, smtplib.SMTP(rx.host, rx.port, timeout=10) as smtp:
        assert smtp.sendmail(sender, [settings.SUPPORT_EMAIL], raw) == {}


def test_a_mail_thread_with_support_over_smtp_both_ways(mx: Path, queue: Huey) -> None:
    deliver(raw_mail(ANN, "Bounces from gmail", "They say 550.", message_id="<q1@example.test>"))
    assert drain(queue) >= 1
    thread = Thread.objects.get()
    assert thread.email == ANN and thread.subject == "Bounces from gmail"

    ack = wait_for_message(mx, lambda m: ANN in m["rcpt_to"])
    assert header(ack, "Subject") == f"[{thread.reference}] We received your message"
    assert header(ack, "In-Reply-To") == "<q1@example.test>"
    assert header(ack, "Auto-Submitted") == "auto-generated"
    ack_id = header(ack, "Message-ID")
    assert ack_id

    # Their mail program answers the acknowledgement: In-Reply-To is all it keeps.
    deliver(raw_mail(ANN, f"Re: [{thread.reference}] We received your message",
                     "Also from outlook.", in_reply_to=ack_id))  # fmt: skip
    drain(queue)
    assert Thread.objects.count() == 1
    assert thread.messages.filter(direction=Direction.IN).count() == 2
    latest_in = thread.messages.filter(direction=Direction.IN).order_by("-id")[0]
    assert latest_in.body.strip() == "Also from outlook."

    staff = staff_client_with_2fa("staff@example.test")
    staff.post(reverse("admin:support_thread_reply", args=[thread.pk]), {"message": "Add SPF."})
    answer = wait_for_message(
        mx, lambda m: ANN in m["rcpt_to"] and (header(m, "Subject") or "").startswith("Re:")
    )
    assert header(answer, "Subject") == f"Re: [{thread.reference}] Bounces from gmail"
    assert header(answer, "In-Reply-To") == latest_in.message_id
    references = (header(answer, "References") or "").split()
    assert references[-1] == latest_in.message_id
    assert "<q1@example.test>" in references and ack_id in references
    reply = thread.messages.get(direction=Direction.OUT, automatic=False)
    assert reply.delivery == Delivery.SENT
    assert header(answer, "Message-ID") == reply.message_id
