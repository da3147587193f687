"""Privacy policy versions: the public history and diffs, the notice of a material change
mailed once to every active user, and the banner until they acknowledge it."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from huey.api import Huey

from lab.smtp_store import Message, header, messages
from mailpanel.accounts.models import User
from mailpanel.privacy.markdown import render_markdown
from mailpanel.privacy.models import NoticeState, PolicyAcceptance, PolicyNotice, PolicyVersion
from mailpanel.privacy.policy import (
    CHANGED_KEY,
    NoticeRefused,
    record_due_acceptances,
    resume_notices,
    send_notices,
    start_notice,
)
from tests.factories import UserFactory
from tests.helpers import drain, lab_mail_receiver, staff_client_with_2fa

HOST = "127.0.0.1"
OLD_TEXT = """# Who we are
We run MailPanel Pro.

# What we store
- Your account
- Your servers
"""
NEW_TEXT = """# Who we are
We run MailPanel Pro.

# What we store
- Your account
- Your DNS providers
- Payments <script>alert(1)</script>
"""

Capture = Callable[..., Any]
# The tests that run a queued task are transactional: huey's db_task closes the connection.


def make_version(
    version: str, days: float, text: str, *, material: bool = False, summary: str = ""
) -> PolicyVersion:
    return PolicyVersion.objects.create(
        version=version,
        published_at=timezone.now() + timedelta(days=days),
        text=text,
        material=material,
        summary=summary,
    )


@pytest.fixture
def in_force(db: None) -> PolicyVersion:
    return make_version("2026-11-20", -1, OLD_TEXT, summary="Plainer words.")


@pytest.fixture
def upcoming(in_force: PolicyVersion) -> PolicyVersion:
    return make_version(
        "2027-01-01",
        7,
        NEW_TEXT,
        material=True,
        summary="We now store your DNS providers & payments.",
    )


def body_of(message: Message) -> str:
    parsed = email.message_from_bytes(message["raw"], policy=email.policy.default)
    part = parsed.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def received_by(mx: Path) -> list[str]:
    return sorted(address for m in messages(mx) for address in m["rcpt_to"])


def notice(user: User, policy: PolicyVersion) -> PolicyNotice:
    return PolicyNotice.objects.get(user=user, policy=policy)


# --- the public pages -------------------------------------------------------------------


def test_the_policy_page_says_when_the_version_in_force_took_effect(
    client: Client, in_force: PolicyVersion, upcoming: PolicyVersion
) -> None:
    html = client.get(reverse("privacy_policy")).content.decode()

    assert f"Last updated {in_force.published_at:%-d %B %Y}" in html
    assert "<h2>Who we are</h2>" in html and "<li>Your servers</li>" in html
    assert "<li>Your DNS providers</li>" not in html  # not in force yet


def test_the_history_lists_each_version_with_date_summary_material_and_link(
    client: Client, in_force: PolicyVersion, upcoming: PolicyVersion
) -> None:
    html = client.get(reverse("privacy_policy")).content.decode()

    assert f"takes effect on {upcoming.published_at:%-d %B %Y}" in html
    assert "We now store your DNS providers &amp; payments." in html
    assert "(material change)" in html and "(minor change)" in html
    assert 'href="/privacy/versions/2027-01-01/"' in html
    assert 'href="/privacy/versions/2026-11-20/"' in html
    assert 'href="/privacy/diff/?from=2026-11-20&amp;to=2027-01-01"' in html


def test_a_version_in_its_notice_period_is_readable_and_says_when_it_applies(
    client: Client, upcoming: PolicyVersion
) -> None:
    page = client.get(reverse("privacy_policy_version", args=[upcoming.version]))

    html = page.content.decode()
    assert page.status_code == 200
    assert f"This version takes effect on {upcoming.published_at:%-d %B %Y}" in html
    assert "<li>Your DNS providers</li>" in html


def test_the_diff_shows_the_removed_and_added_lines_escaped(
    client: Client, in_force: PolicyVersion, upcoming: PolicyVersion
) -> None:
    page = client.get(reverse("privacy_policy_diff"), {"from": "2026-11-20", "to": "2027-01-01"})

    html = page.content.decode()
    assert page.status_code == 200
    assert '<del><span class="visually-hidden">Removed: </span>- Your servers</del>' in html
    assert '<ins><span class="visually-hidden">Added: </span>- Your DNS providers</ins>' in html
    assert "- Payments &lt;script&gt;alert(1)&lt;/script&gt;</ins>" in html
    assert "<script>alert" not in html


def test_without_from_the_diff_compares_with_the_version_before(
    client: Client, in_force: PolicyVersion, upcoming: PolicyVersion
) -> None:
    html = client.get(reverse("privacy_policy_diff"), {"to": "2027-01-01"}).content.decode()

    assert "- Your DNS providers</ins>" in html
    assert 'href="/privacy/versions/2026-11-20/"' in html


def test_a_script_in_the_policy_text_is_escaped_on_its_page(
    client: Client, upcoming: PolicyVersion
) -> None:
    html = client.get(reverse("privacy_policy_version", args=[upcoming.version])).content.decode()

    assert "<li>Payments &lt;script&gt;alert(1)&lt;/script&gt;</li>" in html
    assert "<script>alert" not in html


def test_the_markdown_renders_its_subset_and_nothing_else() -> None:
    html = str(
        render_markdown(
            "## Rights\n**Export** [here](/account/data/) or [docs](https://example.test/a?b=1&c=2)"
            " but not [this](javascript:alert(1)) nor [that](//evil.test/)\n"
            '<img src=x onerror="alert(1)">\n- one\n- two'
        )
    )

    assert "<h3>Rights</h3>" in html
    assert "<strong>Export</strong>" in html
    assert '<a href="/account/data/" rel="noopener noreferrer">here</a>' in html
    assert 'href="https://example.test/a?b=1&amp;c=2"' in html
    assert "javascript:" in html and 'href="javascript' not in html
    assert 'href="//evil' not in html
    assert "&lt;img src=x onerror=" in html and "<img" not in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"from": "2026-11-20", "to": "no-such"}, 404),
        ({"from": "no-such", "to": "2027-01-01"}, 404),
        ({"from": "x\x00y", "to": "2027-01-01"}, 404),
        ({"to": "../../etc"}, 404),
        ({"to": "2027-01-01\n"}, 404),
        ({"from": "2026-11-20"}, 400),
        ({}, 200),  # the form to choose two
    ],
)
def test_unknown_or_malformed_versions_are_refused_not_a_server_error(
    client: Client, upcoming: PolicyVersion, query: dict[str, str], status: int
) -> None:
    assert client.get(reverse("privacy_policy_diff"), query).status_code == status


def test_an_unknown_version_page_is_404(client: Client, db: None) -> None:
    assert client.get("/privacy/versions/no-such/").status_code == 404
    assert client.get("/privacy/versions/x%00/").status_code == 404


# --- the staff pages ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the task closes its connection
def test_staff_write_preview_and_send_the_notice_of_a_material_version(
    in_force: PolicyVersion,
    mx: Path,
    queue: Huey,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    staff = staff_client_with_2fa("staff@example.test")
    member = UserFactory.create(email="member@example.test")
    effective = timezone.now() + timedelta(days=30)
    form = {
        "version": "2027-02-01",
        "published_at_0": f"{effective:%Y-%m-%d}",
        "published_at_1": f"{effective:%H:%M:%S}",
        "material": "on",
        "summary": "We add payments.",
        "text": NEW_TEXT,
    }
    add_page = staff.get(reverse("admin:privacy_policyversion_add")).content.decode()
    assert f'formaction="{reverse("admin:privacy_policyversion_preview")}"' in add_page
    preview = staff.post(reverse("admin:privacy_policyversion_preview"), form)
    assert preview.status_code == 200
    assert b"<li>Payments &lt;script&gt;" in preview.content
    assert b"- Your DNS providers</ins>" in preview.content  # the diff with the one in force
    assert not PolicyVersion.objects.filter(version="2027-02-01").exists()

    added = staff.post(reverse("admin:privacy_policyversion_add"), {**form, "_save": "Save"})
    assert added.status_code == 302, added.content
    policy = PolicyVersion.objects.get(version="2027-02-01")
    assert policy.material and policy.created_by is not None

    with django_capture_on_commit_callbacks(execute=True):
        staff.post(
            reverse("admin:privacy_policyversion_changelist"),
            {"action": "send_notice", "_selected_action": [policy.pk]},
        )
    drain(queue)

    assert received_by(mx) == ["member@example.test", "staff@example.test"]
    assert notice(member, policy).state == NoticeState.SENT
    changelist = staff.get(reverse("admin:privacy_policyversion_changelist")).content
    assert b"2 of 2 mailed, 0 failed, 0 bounced, 0 acknowledged" in changelist


def test_a_new_version_cannot_take_effect_in_the_past(in_force: PolicyVersion) -> None:
    staff = staff_client_with_2fa("staff@example.test")
    past = timezone.now() - timedelta(days=1)
    page = staff.post(
        reverse("admin:privacy_policyversion_add"),
        {
            "version": "backdated",
            "published_at_0": f"{past:%Y-%m-%d}",
            "published_at_1": f"{past:%H:%M:%S}",
            "text": "x",
        },
    )
    assert page.status_code == 200
    assert b"The effective date must be now or in the future." in page.content
    assert not PolicyVersion.objects.filter(version="backdated").exists()


def test_a_version_in_force_is_read_only_and_cannot_be_deleted(in_force: PolicyVersion) -> None:
    staff = staff_client_with_2fa("staff@example.test")
    url = reverse("admin:privacy_policyversion_change", args=[in_force.pk])

    page = staff.get(url)
    assert page.status_code == 200
    assert b'name="text"' not in page.content and b'name="summary"' not in page.content
    staff.post(url, {"text": "rewritten", "summary": "rewritten", "_save": "Save"})
    in_force.refresh_from_db()
    assert in_force.text == OLD_TEXT
    delete = reverse("admin:privacy_policyversion_delete", args=[in_force.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    assert PolicyVersion.objects.filter(pk=in_force.pk).exists()


def test_a_scheduled_version_is_read_only_once_its_notice_went_out(
    upcoming: PolicyVersion, django_capture_on_commit_callbacks: Capture
) -> None:
    staff = staff_client_with_2fa("staff@example.test")
    url = reverse("admin:privacy_policyversion_change", args=[upcoming.pk])
    assert b'name="text"' in staff.get(url).content  # still editable

    with django_capture_on_commit_callbacks():
        start_notice(upcoming)

    assert b'name="text"' not in staff.get(url).content


def test_a_minor_version_sends_no_notice(in_force: PolicyVersion) -> None:
    with pytest.raises(NoticeRefused):
        start_notice(in_force)
    assert not PolicyNotice.objects.exists()


# --- the mailing ------------------------------------------------------------------------


@pytest.fixture
def members(db: None) -> list[User]:
    active = [UserFactory.create(email=f"member{n}@example.test") for n in range(5)]
    UserFactory.create(email="inactive@example.test", is_active=False)
    UserFactory.create(email="leaving@example.test", deletion_requested_at=timezone.now())
    return active


@pytest.mark.django_db(transaction=True)  # the task closes its connection
def test_a_material_version_is_mailed_once_to_every_active_user(
    upcoming: PolicyVersion,
    members: list[User],
    mx: Path,
    queue: Huey,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert start_notice(upcoming) == 5
    with django_capture_on_commit_callbacks(execute=True):
        assert start_notice(upcoming) == 0  # a rerun creates none twice
    drain(queue)  # both runs' tasks: the second finds nothing to send

    assert received_by(mx) == [u.email for u in members]
    message = messages(mx, "member0@example.test")[0]
    assert header(message, "Subject") == (
        f"Our privacy policy changes on {upcoming.published_at:%-d %B %Y}"
    )
    assert header(message, "Auto-Submitted") == "auto-generated"
    assert header(message, "List-Id") == "<policy.mailpanel.localhost>"
    body = body_of(message)
    assert "We now store your DNS providers & payments." in body
    assert "/privacy/diff/?from=2026-11-20&to=2027-01-01" in body
    sent = notice(members[0], upcoming)
    assert sent.state == NoticeState.SENT and sent.sent_at is not None
    assert sent.message_id == header(message, "Message-ID")


def test_a_run_cut_short_is_finished_by_the_next_without_mailing_anyone_twice(
    upcoming: PolicyVersion,
    members: list[User],
    mx: Path,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks():  # the queued task is not run
        start_notice(upcoming)

    first = send_notices(upcoming.pk, batch_size=2, max_batches=1)  # the worker dies here
    assert (first.batches, first.sent) == (1, 2)
    assert len(messages(mx)) == 2

    rest = send_notices(upcoming.pk, batch_size=2)
    assert (rest.batches, rest.sent) == (2, 3)
    assert received_by(mx) == [u.email for u in members]


def test_the_hourly_task_finishes_a_mailing_its_worker_did_not(
    upcoming: PolicyVersion,
    members: list[User],
    mx: Path,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks():  # the worker died before the task ran
        start_notice(upcoming)
    send_notices(upcoming.pk, batch_size=1, max_batches=1)

    assert resume_notices() == 4
    assert resume_notices() == 0
    assert received_by(mx) == [u.email for u in members]


def test_a_notice_claimed_by_a_run_that_died_mid_send_is_not_sent_again(
    upcoming: PolicyVersion,
    members: list[User],
    mx: Path,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks():
        start_notice(upcoming)
    # The run claimed it and may have handed it to the server before it was killed.
    PolicyNotice.objects.filter(user=members[0]).update(message_id="<claimed@x>", attempts=1)

    send_notices(upcoming.pk)

    assert received_by(mx) == [u.email for u in members[1:]]


def test_an_smtp_failure_marks_the_notices_failed_and_a_rerun_retries(
    upcoming: PolicyVersion,
    members: list[User],
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks():
        start_notice(upcoming)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = HOST, 9  # nobody listens
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    down = send_notices(upcoming.pk)

    assert down.failed == 5 and down.sent == 0
    failed = notice(members[0], upcoming)
    assert failed.state == NoticeState.FAILED and failed.attempts == 1
    assert "ConnectionRefusedError" in failed.error

    with lab_mail_receiver(tmp_path, settings):
        again = send_notices(upcoming.pk)
    assert again.sent == 5
    retried = notice(members[0], upcoming)
    assert retried.state == NoticeState.SENT and retried.attempts == 2 and retried.error == ""


def test_a_deferred_recipient_fails_alone_and_is_given_up_after_three_attempts(
    upcoming: PolicyVersion,
    members: list[User],
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    busy = UserFactory.create(email="busy@example.test")
    with django_capture_on_commit_callbacks():
        start_notice(upcoming)
    with lab_mail_receiver(tmp_path, settings, defer=[busy.email]) as db:
        reports = [send_notices(upcoming.pk) for _ in range(4)]

    assert [(r.sent, r.failed) for r in reports] == [(5, 1), (0, 1), (0, 1), (0, 0)]
    given_up = notice(busy, upcoming)
    assert given_up.state == NoticeState.FAILED and given_up.attempts == 3
    assert "450" in given_up.error
    assert received_by(db) == [u.email for u in members]


def test_a_refused_recipient_is_bounced_at_once_and_not_tried_again(
    upcoming: PolicyVersion,
    members: list[User],
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    refused = UserFactory.create(email="someone@refused.test")
    with django_capture_on_commit_callbacks():
        start_notice(upcoming)
    with lab_mail_receiver(tmp_path, settings, domains=["example.test"]) as db:
        reports = [send_notices(upcoming.pk) for _ in range(2)]

    assert [(r.sent, r.failed, r.bounced) for r in reports] == [(5, 0, 1), (0, 0, 0)]
    bounced = notice(refused, upcoming)
    assert bounced.state == NoticeState.BOUNCED and bounced.attempts == 1
    assert bounced.error.startswith("550") and bounced.bounced_at is not None
    assert received_by(db) == [u.email for u in members]


def test_who_joins_after_the_notice_is_not_told_by_a_rerun(
    upcoming: PolicyVersion, members: list[User], django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks():
        start_notice(upcoming)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        late = UserFactory.create(email="late@example.test")
        with django_capture_on_commit_callbacks():
            assert start_notice(upcoming) == 0
    assert not PolicyNotice.objects.filter(user=late).exists()


# --- the banner -----------------------------------------------------------------------------


@pytest.fixture
def noticed(
    upcoming: PolicyVersion, user: User, django_capture_on_commit_callbacks: Capture
) -> PolicyNotice:
    with django_capture_on_commit_callbacks(execute=True):  # queues the task, tells banners
        start_notice(upcoming)
    return notice(user, upcoming)


@pytest.fixture(autouse=True)
def forget_change_stamps(db: None) -> Iterator[None]:
    """The banners' change stamps live in the cache, beyond the test's transaction: a stamp
    set while travelling in time must not make another test's sessions look again."""
    yield
    ids = list(User.objects.values_list("pk", flat=True))
    cache.delete_many([CHANGED_KEY, *(f"{CHANGED_KEY}:{pk}" for pk in ids)])


BANNER = b"data-policy-banner"


def test_the_banner_shows_until_acknowledged(
    owner_client: Client, noticed: PolicyNotice, upcoming: PolicyVersion
) -> None:
    page = owner_client.get(reverse("dashboard"))
    assert BANNER in page.content
    assert b'href="/privacy/diff/?to=2027-01-01"' in page.content
    assert f"changes on {upcoming.published_at:%-d %B %Y}".encode() in page.content
    noticed.refresh_from_db()
    assert noticed.seen_at is not None and noticed.continued_use_at is None

    done = owner_client.post(
        reverse("privacy_policy_acknowledge", args=[upcoming.version]), {"next": "/overview/"}
    )

    assert done.status_code == 302 and done["Location"] == "/overview/"
    assert BANNER not in owner_client.get(reverse("dashboard")).content
    noticed.refresh_from_db()
    assert noticed.acknowledged_at is not None
    # Not in force yet: accepted when it is.
    assert not PolicyAcceptance.objects.filter(user=noticed.user, policy=upcoming).exists()
    with time_machine.travel(upcoming.published_at + timedelta(hours=1)):
        assert record_due_acceptances() == 1
        assert record_due_acceptances() == 0
    acceptance = PolicyAcceptance.objects.get(user=noticed.user, policy=upcoming)
    assert acceptance.accepted_at == upcoming.published_at


def test_acknowledging_a_version_in_force_records_its_acceptance_at_once(
    noticed: PolicyNotice, upcoming: PolicyVersion, user: User
) -> None:
    with time_machine.travel(upcoming.published_at + timedelta(days=1)):
        client = Client()
        client.force_login(user)
        assert b"changed on" in client.get(reverse("dashboard")).content
        client.post(reverse("privacy_policy_acknowledge", args=[upcoming.version]))
        assert BANNER not in client.get(reverse("dashboard")).content

    assert PolicyAcceptance.objects.filter(user=user, policy=upcoming).exists()


def test_continued_use_after_the_effective_date_is_recorded_once(
    noticed: PolicyNotice, upcoming: PolicyVersion, user: User
) -> None:
    client = Client()
    client.force_login(user)
    client.get(reverse("dashboard"))  # in the notice period: not continued use
    noticed.refresh_from_db()
    assert noticed.continued_use_at is None

    first_use = upcoming.published_at + timedelta(hours=2)
    with time_machine.travel(first_use, tick=False):
        client.force_login(user)
        client.get(reverse("dashboard"))
    with time_machine.travel(first_use + timedelta(days=1)):
        client.force_login(user)
        assert BANNER in client.get(reverse("dashboard")).content  # still asks

    noticed.refresh_from_db()
    assert noticed.continued_use_at == first_use
    assert noticed.acknowledged_at is None


def test_who_joined_after_the_notice_sees_no_banner(
    noticed: PolicyNotice, other_user: User, client: Client
) -> None:
    PolicyNotice.objects.filter(user=other_user).delete()  # as if they joined later
    client.force_login(other_user)
    assert BANNER not in client.get(reverse("dashboard")).content


def _queries(client: Client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_banner_costs_no_query_once_looked_up_and_one_when_it_looks_again(
    noticed: PolicyNotice, user: User, other_user: User
) -> None:
    PolicyNotice.objects.filter(user=other_user).delete()
    with_notice, without = Client(), Client()
    with_notice.force_login(user)  # the banner is looked up at sign-in
    without.force_login(other_user)
    assert BANNER in with_notice.get("/overview/").content  # the first showing: seen_at
    without.get("/overview/")

    with_banner, no_banner = _queries(with_notice, "/overview/"), _queries(without, "/overview/")

    assert BANNER in with_notice.get("/overview/").content
    assert len(with_banner) == len(no_banner)
    assert not any("privacy_policynotice" in q for q in with_banner)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):  # looked up again
        again = _queries(with_notice, "/overview/")
        assert sum("privacy_policynotice" in q for q in again) == 1
        assert len(again) == len(_queries(without, "/overview/"))


def test_acknowledging_in_one_session_ends_the_banner_in_the_others(
    noticed: PolicyNotice,
    user: User,
    upcoming: PolicyVersion,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)
    assert BANNER in phone.get("/overview/").content

    with django_capture_on_commit_callbacks(execute=True):
        laptop.post(reverse("privacy_policy_acknowledge", args=[upcoming.version]))

    assert BANNER not in phone.get("/overview/").content


def test_anonymous_pages_ask_nothing_about_notices(client: Client, noticed: PolicyNotice) -> None:
    assert not any("privacy_policynotice" in q for q in _queries(client, "/privacy/"))
