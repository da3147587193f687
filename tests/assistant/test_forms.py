"""Bad input is refused before anything is sent to NVIDIA, with the reason and the limit."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from lab.llm import FakeLLM
from lab.samples import BRIEF
from mailpanel.accounts.models import User
from mailpanel.assistant.models import Draft
from tests.assistant.conftest import choose

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def chosen_key(user: User, fake_llm: FakeLLM) -> None:
    choose(user)


def refused(client: Client, name: str, data: dict[str, str]) -> str:
    response = client.post(reverse(name), data)
    assert response.status_code == 200, "a refused form renders again, with its errors"
    return html.unescape(response.content.decode())


def test_an_empty_brief_is_refused(owner_client: Client, fake_llm: FakeLLM) -> None:
    page = refused(owner_client, "assistant", {**BRIEF, "offer": "   "})
    assert "Describe what you are offering: the assistant needs a brief." in page
    assert not Draft.objects.exists() and fake_llm.requests == []


def test_a_100_kb_brief_is_refused_with_the_limit_stated(
    owner_client: Client, fake_llm: FakeLLM
) -> None:
    page = refused(owner_client, "assistant", {**BRIEF, "offer": "x" * 100 * 1024})
    assert "At most 2000 characters are accepted here; this has 102400." in page
    assert not Draft.objects.exists() and fake_llm.requests == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "tone",
            "menacing",
            "Select a valid choice. menacing is not one of the available choices.",
        ),
        ("length", "epic", "Select a valid choice. epic is not one of the available choices."),
        ("language", "Klingon", "Select a valid choice. Klingon is not one of the available"),
        ("kind", "phishing", "Select a valid choice. phishing is not one of the available"),
        ("variants", "50", "Ensure this value is less than or equal to 10."),
        ("placeholders", "{first_name}", "Write placeholders as {{name}}"),
        ("placeholders", "{{first name}}", "Write placeholders as {{name}}"),
    ],
)
def test_choices_and_placeholders_are_checked(
    owner_client: Client, field: str, value: str, message: str
) -> None:
    page = refused(owner_client, "assistant", {**BRIEF, field: value})
    assert message in page
    assert not Draft.objects.exists()


def test_a_100_kb_text_to_rewrite_is_refused_with_the_limit(owner_client: Client) -> None:
    data = {"text": "y" * 100 * 1024, "action": "shorten", "tone": "calm", "language": "English"}
    page = refused(owner_client, "assistant_rewrite", data)
    assert "At most 20000 characters are accepted here; this has 102400." in page


def test_an_empty_text_to_rewrite_is_refused(owner_client: Client) -> None:
    data = {"text": "", "action": "shorten", "tone": "calm", "language": "English"}
    assert "Paste the text to rewrite." in refused(owner_client, "assistant_rewrite", data)


def test_checking_needs_some_text(owner_client: Client) -> None:
    page = refused(owner_client, "assistant_check", {"subject": "Hi", "text": " ", "html": ""})
    assert "Paste the plain text, the HTML, or both." in page


def test_the_brief_keeps_placeholders_exactly(owner_client: Client, user: User) -> None:
    owner_client.post(reverse("assistant"), {**BRIEF, "placeholders": "{{first_name}} {{city}}"})
    assert Draft.objects.get(owner=user).inputs["placeholders"] == "{{first_name}}, {{city}}"
