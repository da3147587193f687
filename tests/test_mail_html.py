"""The panel's own mail in HTML: the same words as the text, every written value escaped,
nothing loaded and nothing run; the text stays the body."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

import mailpanel
from mailpanel.billing.plans import plan
from mailpanel.mail import build_message
from mailpanel.privacy import breach, policy
from mailpanel.privacy.models import (
    DataRequest,
    Incident,
    MinorReport,
    PolicyVersion,
    RequestKind,
    RequestState,
)
from mailpanel.privacy.request_clock import business_due_for, due_for
from mailpanel.privacy.requests import CONFIRM_MAX_AGE, confirmation_token
from mailpanel.support.models import Direction, SupportMessage, Thread
from mailpanel.support.outgoing import ORIGINS, thread_url
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MAIL_TEMPLATES = Path(mailpanel.__file__).parent / "templates" / "mail"
CANARY = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
RECEIVED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday
URL = re.compile(r"https?://\S+")
# Whatever a new template needs beyond these is a choice to make here, on purpose.
TAGS = {"html", "head", "meta", "title", "body", "div", "p", "br", "h2", "ul", "li", "strong", "a"}
ATTRIBUTES = {"html": {"lang"}, "meta": {"charset", "name", "content"}, "a": {"href", "style"}}
# The policy notice's links were worded before the others; their addresses are in the text.
WORDED_LINKS = {"mail/policy_notice"}


def panel() -> str:
    return str(settings.PUBLIC_URL).rstrip("/")


@dataclass(frozen=True)
class Mail:
    """A template with the context its caller gives it and what its text must also say."""

    template: str
    context: dict[str, Any]
    facts: tuple[str, ...]
    shows_written_text: bool = True  # the canary is in a field the message shows


class Parsed(HTMLParser):
    """The tags, the links (address and words) and the words a reader sees."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.links: list[tuple[str, str]] = []
        self._words: list[str] = []
        self._link: tuple[str, list[str]] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "a":
            self._link = (found.get("href") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            href, words = self._link
            self.links.append((href, " ".join("".join(words).split())))
            self._link = None

    def handle_data(self, data: str) -> None:
        self._words.append(data)
        if self._link is not None:
            self._link[1].append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self._words).split())


# --- the messages, as their callers build them -----------------------------------------------


def data_request(state: str, **fields: Any) -> DataRequest:
    return DataRequest.objects.create(
        reference=f"DR-{uuid.uuid4().hex[:6].upper()}",
        email="requester@example.test",
        kind=RequestKind.EXPORT,
        details=CANARY,  # never shown back: the canary must not come out raw either
        state=state,
        received_at=RECEIVED,
        due_at=due_for(RECEIVED),
        **fields,
    )


def requester_context(req: DataRequest, **context: Any) -> dict[str, Any]:
    """What ``requests.mail_requester`` passes."""
    return {"req": req, "privacy_email": settings.PRIVACY_EMAIL, **context}


def acknowledgement(state: str, says: str) -> Mail:
    """What ``requests.acknowledge`` passes, for a request filed in ``state``."""
    req = data_request(state)
    confirm_url = ""
    if state == RequestState.AWAITING_CONFIRMATION:
        path = reverse("privacy_request_confirm", args=[confirmation_token(req)])
        confirm_url = panel() + path
    context = requester_context(
        req,
        business_due=business_due_for(req.received_at),
        confirm_url=confirm_url,
        confirm_days=CONFIRM_MAX_AGE.days,
    )
    links: dict[str, str] = {
        RequestState.OPEN: panel() + reverse("privacy_request", args=[req.pk]),
        RequestState.AWAITING_CONFIRMATION: confirm_url,
    }
    facts: tuple[str, ...] = (req.reference, "3 March 2025", "2 April 2025", "14 April 2025")
    facts += (says, "Export (portability)", settings.PRIVACY_EMAIL)
    facts += (links[state],) if state in links else ()
    return Mail("mail/request_acknowledgement", context, facts, shows_written_text=False)


def acknowledgement_open() -> Mail:
    return acknowledgement(RequestState.OPEN, "so we know it is you")


def acknowledgement_awaiting_confirmation() -> Mail:
    return acknowledgement(RequestState.AWAITING_CONFIRMATION, "it works for 7 days")


def acknowledgement_identity_not_verified() -> Mail:
    return acknowledgement(RequestState.IDENTITY_NOT_VERIFIED, "to verify your identity")


def reply(state: str, outcome: str) -> Mail:
    req = data_request(state, reply=f"We found nothing.\n\n{CANARY}", closed_at=RECEIVED)
    context = requester_context(req, reply=req.reply)
    facts = (req.reference, "Export (portability)", "3 March 2025", "We found nothing.", outcome)
    return Mail("mail/request_reply", context, (*facts, settings.PRIVACY_EMAIL))


def reply_fulfilled() -> Mail:
    return reply(RequestState.FULFILLED, "The request is now fulfilled.")


def reply_refused() -> Mail:
    return reply(RequestState.REFUSED, "The request is closed without being fulfilled.")


def reminder() -> Mail:
    """Three requests as ``request_clock.remind_staff`` lists them."""
    rows: list[dict[str, Any]] = []
    facts = ["day 20", "10 days left", "1 day left", "overdue", "due 2025-04-02 09:00 UTC"]
    for day, left in ((20, 10), (27, 1), (27, -2)):
        req = data_request(RequestState.OPEN)
        url = panel() + reverse("admin:privacy_datarequest_change", args=[req.pk])
        facts += [req.reference, url]
        rows.append(
            {
                "reference": req.reference,
                "kind": req.get_kind_display(),
                "state": req.get_state_display(),
                "day": day,
                "left": left,
                "due_at": req.due_at,
                "url": url,
            }
        )
    return Mail("mail/request_reminder", {"rows": rows}, tuple(facts), shows_written_text=False)


def minor_report(has_account: bool, says: str) -> Mail:
    reported = UserFactory.create()
    report = MinorReport.objects.create(
        reported_email=reported.email,
        reporter_email="worried@example.test",
        details=CANARY,  # staff read it in the admin; the mail does not repeat it
        channel="form",
        user=reported if has_account else None,
        received_at=RECEIVED,
    )
    url = panel() + reverse("admin:privacy_minorreport_change", args=[report.pk])
    context = {"report": report, "url": url, "has_account": has_account}
    facts = ("by form, received 2025-03-03 09:00 UTC", says, url)
    return Mail("mail/minor_report_staff", context, facts, shows_written_text=False)


def minor_report_of_an_account() -> Mail:
    return minor_report(True, "The reported address is an account of the panel.")


def minor_report_of_no_account() -> Mail:
    return minor_report(False, "no account of the panel we could find")


def incident(categories: list[str]) -> Incident:
    return Incident.objects.create(
        title="Token store read",
        aware_at=RECEIVED,
        what_happened=f"A backup of the token store was read.\n{CANARY}",
        categories=categories,
        audience={"kind": breach.ALL},
        notice_subject="A security incident concerning your account",
        notice_text=f"We have revoked every token.\n\n{CANARY}",
    )


def breach_notice() -> Mail:
    context = breach.notice_context(incident(["credentials", "account"]))
    titles = context["category_titles"]
    assert len(titles) == 2
    facts = ("We have revoked every token.", "A backup of the token store was read.", *titles)
    facts += ("We became aware of it on 3 March 2025 at 09:00 UTC.", settings.PRIVACY_EMAIL)
    return Mail("mail/breach_notice", context, facts)


def breach_notice_of_no_category() -> Mail:
    context = breach.notice_context(incident([]))
    return Mail("mail/breach_notice", context, ("(none recorded)", "3 March 2025"))


def policy_notice() -> Mail:
    PolicyVersion.objects.create(version="2024-01", published_at=RECEIVED - timedelta(days=400))
    new = PolicyVersion.objects.create(
        version="2025-04",
        published_at=RECEIVED + timedelta(days=30),
        summary=f"Logs are kept 30 days.\n{CANARY}",
        text="The policy.",
        material=True,
    )
    user = UserFactory.create(full_name=f"{CANARY} Owner")
    context = {**policy.notice_context(new), "user": user}
    assert "&" in context["diff_path"]  # from= and to=: the link must survive HTML escaping
    facts = ("2 April 2025", "(version 2025-04)", "Logs are kept 30 days.", "confirm that")
    # Its links are worded (WORDED_LINKS): the addresses are checked as hrefs, not as words.
    return Mail("mail/policy_notice", context, facts)


def export_ready() -> Mail:
    """What ``exports._mail_ready`` passes."""
    link = panel() + reverse("privacy_export", args=[uuid.uuid4()])
    days = settings.RETENTION_DAYS["exports"]
    return Mail(
        "mail/export_ready",
        {"link": link, "days": days},
        (link, f"for {days} days"),
        shows_written_text=False,
    )


def account_deleted() -> Mail:
    facts = ("Your MailPanel Pro account has been deleted.", "This address is free again")
    return Mail("mail/account_deleted", {}, facts, shows_written_text=False)


def support_thread(owned: bool) -> Thread:
    owner = UserFactory.create() if owned else None
    return Thread.objects.create(
        owner=owner,
        email=owner.email if owner else "stranger@example.test",
        subject=f"DKIM fails {CANARY}",  # only in the subject of a reply, never in a body
    )


def support_acknowledgement(owned: bool) -> Mail:
    thread = support_thread(owned)
    message = SupportMessage.objects.create(thread=thread, direction=Direction.OUT, automatic=True)
    url = thread_url(thread)
    context = {"thread": thread, "message": message, "thread_url": url}
    facts: tuple[str, ...] = (
        f"[{thread.reference}]",
        "ignore this message",
        "MailPanel Pro support",
    )
    if owned:
        facts += (url, "read and answer the thread in the panel")
    return Mail("mail/support_acknowledgement", context, facts, shows_written_text=False)


def support_acknowledgement_of_an_owned_thread() -> Mail:
    return support_acknowledgement(owned=True)


def support_acknowledgement_to_a_stranger() -> Mail:
    return support_acknowledgement(owned=False)


def support_reply(owned: bool) -> Mail:
    thread = support_thread(owned)
    message = SupportMessage.objects.create(
        thread=thread, direction=Direction.OUT, body=f"Rotate the key.\n\n{CANARY}"
    )
    url = thread_url(thread)
    context = {"thread": thread, "message": message, "thread_url": url}
    facts: tuple[str, ...] = ("Rotate the key.", f"reference {thread.reference}")
    facts += (url,) if owned else ("Reply to this message to answer.",)
    return Mail("mail/support_reply", context, facts)


def support_reply_on_an_owned_thread() -> Mail:
    return support_reply(owned=True)


def support_reply_to_a_stranger() -> Mail:
    return support_reply(owned=False)


def support_staff(owned: bool, says: str) -> Mail:
    """What ``outgoing.tell_staff`` passes: the link, none of the message's words."""
    thread = support_thread(owned)
    message = SupportMessage.objects.create(thread=thread, direction=Direction.IN, body=CANARY)
    url = panel() + reverse("admin:support_thread_change", args=[thread.pk])
    context = {"thread": thread, "message": message, "origin": ORIGINS["mail"], "url": url}
    when = f"{message.created_at:%Y-%m-%d %H:%M} UTC"
    facts = (thread.reference, f"(by mail), {when}", says, url)
    return Mail("mail/support_staff", context, facts, shows_written_text=False)


def support_staff_of_an_owned_thread() -> Mail:
    return support_staff(True, "It comes from an account of the panel.")


def support_staff_of_a_stranger() -> Mail:
    return support_staff(False, "an address that is no account of the panel")


def billing_past_due() -> Mail:
    """What ``billing.notices.send_past_due_notice`` passes."""
    url = panel() + reverse("billing")
    context = {"plan": plan("pro"), "grace_ends": RECEIVED, "billing_url": url}
    facts = ("Pro plan did not go through", "3 March 2025, 09:00 UTC", "export and deletion", url)
    return Mail("mail/billing_past_due", context, facts, shows_written_text=False)


CASES: dict[str, Callable[[], Mail]] = {
    case.__name__: case
    for case in (
        account_deleted,
        billing_past_due,
        breach_notice,
        breach_notice_of_no_category,
        export_ready,
        minor_report_of_an_account,
        minor_report_of_no_account,
        policy_notice,
        acknowledgement_open,
        acknowledgement_awaiting_confirmation,
        acknowledgement_identity_not_verified,
        reminder,
        reply_fulfilled,
        reply_refused,
        support_acknowledgement_of_an_owned_thread,
        support_acknowledgement_to_a_stranger,
        support_reply_on_an_owned_thread,
        support_reply_to_a_stranger,
        support_staff_of_an_owned_thread,
        support_staff_of_a_stranger,
    )
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Mail:
    return CASES[request.param]()


def built(case: Mail) -> EmailMultiAlternatives:
    return build_message(["someone@example.test"], "A subject", case.template, case.context)


def html_of(message: EmailMultiAlternatives) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return str(content)


def text_templates() -> set[str]:
    return {path.stem for path in MAIL_TEMPLATES.glob("*.txt")}


# --- every message -------------------------------------------------------------------------


def test_each_message_carries_exactly_one_html_alternative(case: Mail) -> None:
    message = built(case)
    assert [mimetype for _, mimetype in message.alternatives] == ["text/html"]


def test_the_text_stays_the_body_as_its_template_renders_it(case: Mail) -> None:
    message = built(case)
    assert message.content_subtype == "plain"
    context = {"panel_url": panel(), **case.context}
    assert message.body == render_to_string(f"{case.template}.txt", context)


def test_the_html_says_what_the_text_says(case: Mail) -> None:
    message = built(case)
    seen = Parsed(html_of(message)).text
    text = " ".join(str(message.body).split())
    for fact in case.facts:
        assert fact in text, f"not a fact of the text: {fact!r}"
        assert fact in seen, f"the HTML does not say {fact!r}"


def test_every_address_in_the_text_is_a_link_in_the_html(case: Mail) -> None:
    message = built(case)
    links = Parsed(html_of(message)).links
    hrefs = {href for href, _ in links}
    assert set(URL.findall(str(message.body))) <= hrefs
    if case.template not in WORDED_LINKS:
        for href, words in links:
            if not href.startswith("mailto:"):
                assert words == href, "a link shows the address it goes to"


def test_written_values_arrive_escaped_never_raw(case: Mail) -> None:
    html = html_of(built(case))
    assert CANARY not in html
    if case.shows_written_text:
        assert ESCAPED in html


def test_the_html_loads_nothing_and_runs_nothing(case: Mail) -> None:
    html = html_of(built(case))
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered and "url(" not in lowered
    for tag, attrs in Parsed(html).tags:
        assert tag in TAGS, f"<{tag}> in a mail"
        for name, value in attrs.items():
            assert name in ATTRIBUTES.get(tag, set()) | {"style"}, f"<{tag} {name}=...>"
            if tag == "a" and name == "href":
                value = value or ""
                assert value.startswith(("mailto:", panel() + "/")) or value == panel()
            else:
                assert "http" not in (value or "").lower(), f"<{tag} {name}={value!r}>"


def test_the_html_has_the_layout_of_every_message(case: Mail) -> None:
    html = html_of(built(case))
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert '<meta charset="utf-8">' in html
    assert "max-width:600px" in html
    assert f"MailPanel Pro · {panel()}" in Parsed(html).text


# --- the templates themselves --------------------------------------------------------------


def test_every_text_template_has_an_html_version() -> None:
    html = {path.stem for path in MAIL_TEMPLATES.glob("*.html")}
    assert text_templates() - html == set()


def test_every_text_template_is_built_here() -> None:
    covered = {case().template.removeprefix("mail/") for case in CASES.values()}
    assert covered == text_templates()


def test_the_export_mail_text_reads_as_before() -> None:
    case = export_ready()
    link, days = case.context["link"], case.context["days"]
    assert built(case).body == (
        "The export of your MailPanel Pro data you asked for is ready:\n\n"
        f"{link}\n\n"
        f"The link works for you alone, signed in, for {days} days; then the file is deleted.\n"
    )


def test_written_text_keeps_its_paragraphs_and_line_breaks() -> None:
    html = html_of(built(support_reply_on_an_owned_thread()))
    assert "<p>Rotate the key.</p>" in html
    assert f"<p>{ESCAPED}</p>" in html
    text = built(breach_notice()).body
    assert f"A backup of the token store was read.\n{CANARY}" in text  # plain text: as written
    html = html_of(built(breach_notice()))
    assert f"<p>A backup of the token store was read.<br>{ESCAPED}</p>" in html
