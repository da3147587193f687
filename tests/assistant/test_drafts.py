"""Drafts: list and search, edit, choose, delete, preview, export; the owner's alone."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailpanel.accounts.models import User
from mailpanel.assistant import actions
from mailpanel.assistant.models import AssistantUsage, Draft, DraftState

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]

TEXT = (
    "Hi {{first_name}},\n\nOur spring tools are in: pruners and gloves that last.\n\n"
    "Unsubscribe: {{unsubscribe_url}}\nGreenhouse Goods Ltd, 42 Orchard Road, Bristol BS1 4DJ"
)


def draft_of(user: User, subject: str = "Spring tools are in", text: str = TEXT) -> Draft:
    draft = actions.save_pasted(user, subject, "Pruners and gloves", text, "")
    draft.inputs = {"sender_name": "Greenhouse Goods"}
    draft.save()
    return draft


def test_the_list_shows_only_the_owners_drafts_newest_first(
    owner_client: Client, user: User, other_user: User
) -> None:
    draft_of(user, "Older news")
    draft_of(user, "Newer news")
    draft_of(other_user, "Their secret launch")

    page = owner_client.get(reverse("assistant_drafts")).content.decode()

    assert page.index("Newer news") < page.index("Older news")
    assert "Their secret launch" not in page


def test_search_matches_subject_and_body_ignoring_case(owner_client: Client, user: User) -> None:
    draft_of(user, "Spring sale", "Pruners at half price.\nUnsubscribe")
    draft_of(user, "Autumn bulbs", "Tulips and crocuses.\nUnsubscribe")
    draft_of(user, "Winter", "Gloves for the cold; also PRUNERS.\nUnsubscribe")

    by_subject = owner_client.get(reverse("assistant_drafts"), {"q": "autumn"}).content.decode()
    by_body = owner_client.get(reverse("assistant_drafts"), {"q": "pruners"}).content.decode()
    nothing = owner_client.get(reverse("assistant_drafts"), {"q": "zebra"}).content.decode()

    assert "Autumn bulbs" in by_subject and "Spring sale" not in by_subject
    assert "Spring sale" in by_body and "Winter" in by_body and "Autumn" not in by_body
    assert "No draft matches “zebra”" in nothing


def test_the_list_costs_the_same_queries_for_one_draft_and_forty(
    owner_client: Client, user: User
) -> None:
    draft_of(user)
    owner_client.get(reverse("assistant_drafts"))  # the session's first-request bookkeeping
    with CaptureQueriesContext(connection) as one:
        owner_client.get(reverse("assistant_drafts"))
    for n in range(39):
        draft_of(user, f"Draft {n}")
    with CaptureQueriesContext(connection) as many:
        owner_client.get(reverse("assistant_drafts"))
    assert len(many) == len(one)


DRAFT_ROUTES = [
    ("get", "assistant_draft", ()),
    ("get", "assistant_draft_stream", ()),
    ("post", "assistant_draft_stop", ()),
    ("post", "assistant_draft_edit", ()),
    ("post", "assistant_draft_choose", ()),
    ("post", "assistant_draft_retry", ()),
    ("get", "assistant_draft_delete", ()),
    ("post", "assistant_draft_delete", ()),
    ("get", "assistant_draft_preview", ()),
    ("get", "assistant_draft_export", ("txt",)),
    ("get", "assistant_draft_export", ("html",)),
    ("get", "assistant_draft_export", ("eml",)),
]


@pytest.mark.parametrize(("method", "name", "extra"), DRAFT_ROUTES)
def test_another_users_draft_is_a_404_on_every_route(
    other_client: Client, user: User, method: str, name: str, extra: tuple[str, ...]
) -> None:
    draft = draft_of(user)
    url = reverse(name, args=[draft.pk, *extra])
    response = getattr(other_client, method)(url, {"text": "x", "subject": "x", "line": "x"})
    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.subject == "Spring tools are in"  # untouched


def test_rewriting_from_another_users_draft_is_a_404(other_client: Client, user: User) -> None:
    draft = draft_of(user)
    response = other_client.get(reverse("assistant_rewrite"), {"draft": str(draft.pk)})
    assert response.status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client: Client, user: User) -> None:
    draft = draft_of(user)
    for url in (reverse("assistant"), reverse("assistant_draft_stream", args=[draft.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "/account/login/" in response["Location"]


def test_delete_asks_first_then_deletes(owner_client: Client, user: User) -> None:
    draft = draft_of(user)
    url = reverse("assistant_draft_delete", args=[draft.pk])

    confirm = owner_client.get(url)
    assert (
        confirm.status_code == 200 and "Delete “Spring tools are in”?" in confirm.content.decode()
    )
    assert Draft.objects.filter(pk=draft.pk).exists()

    done = owner_client.post(url)
    assert done.status_code == 302 and done["Location"] == reverse("assistant_drafts")
    assert not Draft.objects.filter(pk=draft.pk).exists()


def test_the_eml_export_is_a_multipart_alternative_message_with_the_chosen_subject(
    owner_client: Client, user: User
) -> None:
    draft = draft_of(user)

    response = owner_client.get(reverse("assistant_draft_export", args=[draft.pk, "eml"]))

    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == 'attachment; filename="spring-tools-are-in.eml"'
    message = email.message_from_bytes(response.content, policy=email.policy.default)
    assert message["Subject"] == "Spring tools are in"
    assert message["From"] == "Greenhouse Goods <sender@example.com>"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    assert "Hi {{first_name}}," in plain.get_content()  # placeholders kept verbatim
    html = rich.get_content()
    assert "<p>Hi {{first_name}},</p>" in html
    assert "Pruners and gloves</div>" in html  # the preheader, hidden at the top
    assert b"\r\n" in response.content  # SMTP line endings


def test_the_text_and_html_exports_are_downloads(owner_client: Client, user: User) -> None:
    draft = draft_of(user)
    text = owner_client.get(reverse("assistant_draft_export", args=[draft.pk, "txt"]))
    html = owner_client.get(reverse("assistant_draft_export", args=[draft.pk, "html"]))
    assert text["Content-Type"] == "text/plain; charset=utf-8"
    assert text.content.decode() == TEXT + "\n"
    assert html["Content-Disposition"] == 'attachment; filename="spring-tools-are-in.html"'
    assert html.content.decode().startswith("<!DOCTYPE html>")
    assert "sandbox" in html["Content-Security-Policy"]
    bad = owner_client.get(reverse("assistant_draft_export", args=[draft.pk, "pdf"]))
    assert bad.status_code == 404


SCRIPTED = (
    '<p onclick="steal()">Hello</p><script>alert("x")</script>'
    '<img src="x.png" onerror="steal()" alt="Tools"><a href="javascript:steal()">click</a>'
    '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input></form>'
)


def test_pasted_html_with_script_is_neutralised_in_storage_and_preview(
    owner_client: Client, user: User
) -> None:
    response = owner_client.post(
        reverse("assistant_check"),
        {"subject": "Hello", "preheader": "", "text": "Hello", "html": SCRIPTED},
    )
    draft = Draft.objects.get(owner=user)
    assert response["Location"] == reverse("assistant_draft", args=[draft.pk])

    preview = owner_client.get(reverse("assistant_draft_preview", args=[draft.pk]))
    page = owner_client.get(response["Location"]).content.decode()

    body = preview.content.decode()
    for dangerous in ("<script", "onclick", "onerror", "javascript:", "<iframe", "<form", "steal"):
        assert dangerous not in draft.html and dangerous not in body
    assert '<img src="x.png" alt="Tools">' in body
    csp = preview["Content-Security-Policy"]
    assert "default-src 'none'" in csp and csp.endswith("sandbox")
    assert "script-src" not in csp  # so default-src 'none' forbids every script
    assert preview["X-Frame-Options"] == "SAMEORIGIN"
    # The page frames it sandboxed: no allow-scripts, no allow-same-origin.
    assert '<iframe class="preview" sandbox src=' in page
    assert "allow-scripts" not in page


def test_the_draft_page_shows_the_score_with_a_reason_for_each_point(
    owner_client: Client, user: User
) -> None:
    draft = draft_of(user, "FREE gloves!!!", "Act now.")
    page = owner_client.get(reverse("assistant_draft", args=[draft.pk])).content.decode()
    score = draft.lint["score"]
    assert f'data-score="{score}"' in page
    for finding in draft.lint["findings"]:
        assert f"\u2212{finding['points']}" in page
    assert "No unsubscribe line" in page and "No postal address" in page


def test_editing_a_draft_checks_it_again(owner_client: Client, user: User) -> None:
    draft = draft_of(user, "Spring", "Our tools are in.")
    before = draft.lint["score"]

    owner_client.post(
        reverse("assistant_draft_edit", args=[draft.pk]),
        {"subject": "Spring tools are in", "preheader": "", "text": TEXT, "html": ""},
    )

    draft.refresh_from_db()
    assert draft.lint["score"] == 100 > before
    assert draft.html.startswith("<p>Hi {{first_name}},</p>")


def test_an_edit_over_the_limit_is_refused_with_the_limit(owner_client: Client, user: User) -> None:
    draft = draft_of(user)
    response = owner_client.post(
        reverse("assistant_draft_edit", args=[draft.pk]),
        {"subject": "x" * 301, "preheader": "", "text": "x", "html": ""},
    )
    assert response.status_code == 400
    assert "At most 300 characters are accepted here; this has 301." in response.content.decode()


def test_choosing_one_of_the_subject_lines(owner_client: Client, user: User) -> None:
    draft = Draft.objects.create(
        owner=user,
        kind="subjects",
        state=DraftState.COMPLETE,
        complete=True,
        subject="Spring tools are in",
        text="Spring tools are in\nGloves that last\nFREE STUFF!!!",
    )
    page = owner_client.get(reverse("assistant_draft", args=[draft.pk])).content.decode()
    assert "Gloves that last" in page and "score 100" in page

    url = reverse("assistant_draft_choose", args=[draft.pk])
    assert owner_client.post(url, {"line": "Gloves that last"}).status_code == 302
    draft.refresh_from_db()
    assert draft.subject == "Gloves that last"
    assert owner_client.post(url, {"line": "Something else"}).status_code == 404


def test_usage_is_shown_and_estimates_are_marked(owner_client: Client, user: User) -> None:
    AssistantUsage.objects.create(
        owner=user, requests=3, prompt_tokens=1200, completion_tokens=345, estimated_requests=1
    )
    page = owner_client.get(reverse("assistant")).content.decode()
    assert "<strong>3</strong> requests" in page
    assert "<strong>1,200</strong> prompt tokens" in page
    assert "<strong>345</strong> completion tokens" in page
    assert "<em>estimated</em>" in page


def test_pages_link_only_their_own_static_assets(owner_client: Client, user: User) -> None:
    draft = draft_of(user)
    page = owner_client.get(reverse("assistant_draft", args=[draft.pk])).content.decode()
    assert '<script src="/static/assistant.js" defer></script>' in page
    assert "<script>" not in page and " style=" not in page


def test_a_draft_whose_stream_died_is_shown_as_interrupted_with_its_text(
    owner_client: Client, user: User
) -> None:
    draft = Draft.objects.create(
        owner=user, kind="email", state=DraftState.STREAMING, text="Introducing spring"
    )
    long_ago = timezone.now() - timedelta(minutes=10)
    Draft.objects.filter(pk=draft.pk).update(updated_at=long_ago)

    page = owner_client.get(reverse("assistant_draft", args=[draft.pk])).content.decode()

    draft.refresh_from_db()
    assert draft.state == DraftState.INCOMPLETE and draft.text == "Introducing spring"
    assert "Interrupted: the answer stopped arriving." in page


def test_a_draft_being_written_elsewhere_is_left_alone(owner_client: Client, user: User) -> None:
    draft = Draft.objects.create(owner=user, kind="email", state=DraftState.STREAMING)
    body = b"".join(owner_client.get(reverse("assistant_draft_stream", args=[draft.pk]))).decode()
    assert "event: end" in body and "being written in another window" in body
    draft.refresh_from_db()
    assert draft.state == DraftState.STREAMING


def test_styles_that_fetch_from_elsewhere_are_stripped_from_drafts_and_exports(
    owner_client: Client, user: User
) -> None:
    html = (
        '<p style="background:url(http://track.example/p.gif); color: #333">Hi</p>'
        '<td style="background-image:\\75 rl(https://track.example/q.gif)">x</td>'
    )
    draft = actions.save_pasted(user, "Tracked", "", "Hi\nUnsubscribe", html)

    stored = Draft.objects.get(pk=draft.pk).html
    exported = owner_client.get(reverse("assistant_draft_export", args=[draft.pk, "eml"]))

    assert "track.example" not in stored and "url(" not in stored
    assert "color:#333" in stored.replace(" ", "")  # the harmless part of the style stays
    assert b"track.example" not in exported.content
