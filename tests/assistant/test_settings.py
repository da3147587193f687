"""Choosing the NVIDIA key and model: checked against the endpoint before it is saved."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lab.llm import FakeLLM
from lab.samples import BRIEF
from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.assistant.models import AssistantProfile, AssistantUsage
from tests.assistant.conftest import BROKE_KEY, KEY, MODEL, UNKNOWN_KEY, add_key, choose

pytestmark = pytest.mark.django_db


def save(client: Client, credential_id: object, model_id: str = "") -> Any:
    return client.post(
        reverse("assistant_settings"), {"credential": credential_id, "model_id": model_id}
    )


def test_a_working_key_is_checked_and_saved_with_the_configured_model(
    owner_client: Client, user: User, fake_llm: FakeLLM
) -> None:
    credential = add_key(user)

    response = save(owner_client, credential.pk)

    assert response.status_code == 302 and response["Location"] == reverse("assistant")
    profile = AssistantProfile.objects.get(owner=user)
    assert profile.credential == credential and profile.model_id == MODEL
    listing, probe = fake_llm.requests
    assert (listing["method"], listing["path"]) == ("GET", "/v1/models")
    assert listing["headers"]["authorization"] == f"Bearer {KEY}"
    assert probe["path"] == "/v1/chat/completions" and probe["json"]["max_tokens"] == 1
    assert probe["json"]["model"] == MODEL
    assert AssistantUsage.objects.get(owner=user).requests == 1
    credential.refresh_from_db()
    assert credential.last_used_at is not None
    used = ActivityEvent.objects.get(owner=user, action="credential.used")
    assert used.message == "Decrypted for checking the assistant settings"
    page = owner_client.get(reverse("assistant")).content.decode()
    assert MODEL in page and KEY not in page


def test_when_the_configured_model_is_gone_the_user_picks_an_offered_deepseek_model(
    owner_client: Client, user: User, settings: Any
) -> None:
    offered = ["deepseek-ai/deepseek-r1", "deepseek-ai/deepseek-v3.1", "meta/llama-3.1-8b"]
    credential = add_key(user)
    with FakeLLM(keys=[KEY], models=offered, pace_ms=1) as fake:
        settings.NVIDIA_API_URL = fake.base_url
        settings.NVIDIA_MODEL = MODEL

        first = save(owner_client, credential.pk)
        page = html.unescape(first.content.decode())
        assert first.status_code == 200
        assert f"NVIDIA does not offer “{MODEL}” to this key any more" in page
        assert '<option value="deepseek-ai/deepseek-v3.1">' in page
        assert "meta/llama-3.1-8b" not in page  # only DeepSeek models are offered to pick
        assert not AssistantProfile.objects.filter(owner=user).exists()

        second = save(owner_client, credential.pk, "deepseek-ai/deepseek-v3.1")

    assert second.status_code == 302
    assert AssistantProfile.objects.get(owner=user).model_id == "deepseek-ai/deepseek-v3.1"
    assert fake.requests[-1]["json"]["model"] == "deepseek-ai/deepseek-v3.1"


def test_a_model_that_is_not_an_offered_deepseek_model_cannot_be_picked(
    owner_client: Client, user: User, settings: Any
) -> None:
    credential = add_key(user)
    with FakeLLM(keys=[KEY], models=["deepseek-ai/deepseek-r1", "meta/llama"], pace_ms=1) as fake:
        settings.NVIDIA_API_URL = fake.base_url
        response = save(owner_client, credential.pk, "meta/llama")
    assert response.status_code == 200
    assert not AssistantProfile.objects.filter(owner=user).exists()


def test_no_deepseek_model_at_all_is_said_plainly(
    owner_client: Client, user: User, settings: Any
) -> None:
    credential = add_key(user)
    with FakeLLM(keys=[KEY], models=["meta/llama-3.1-8b"], pace_ms=1) as fake:
        settings.NVIDIA_API_URL = fake.base_url
        page = html.unescape(save(owner_client, credential.pk).content.decode())
    assert "neither “deepseek-ai/deepseek-v3-0324” nor any other DeepSeek model" in page


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (UNKNOWN_KEY, "NVIDIA rejected your API key"),
        (BROKE_KEY, "Your NVIDIA account has run out of credits"),
    ],
)
def test_a_rejected_key_is_not_saved_and_the_reason_is_shown(
    owner_client: Client, user: User, fake_llm: FakeLLM, key: str, message: str
) -> None:
    credential = add_key(user, key)

    response = save(owner_client, credential.pk)

    page = response.content.decode()
    assert response.status_code == 200 and message in page
    assert key not in page
    assert not AssistantProfile.objects.filter(owner=user).exists()


def test_an_unreachable_endpoint_is_said_plainly(owner_client: Client, user: User) -> None:
    # tests/settings.py points NVIDIA_API_URL at a closed loopback port.
    credential = add_key(user)
    page = save(owner_client, credential.pk).content.decode()
    assert "could not reach NVIDIA" in page


def test_another_users_key_cannot_be_chosen(
    owner_client: Client, user: User, other_user: User, fake_llm: FakeLLM
) -> None:
    add_key(user)
    theirs = add_key(other_user)
    response = save(owner_client, theirs.pk)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert fake_llm.requests == []


def test_a_chosen_key_cannot_be_deleted_while_the_assistant_uses_it(
    owner_client: Client, user: User
) -> None:
    profile = choose(user)
    response = owner_client.post(reverse("credential_delete", args=[profile.credential.pk]))
    assert response.status_code == 409
    assert "assistant setting using deepseek-ai/deepseek-v3-0324" in response.content.decode()


def test_without_a_stored_key_the_page_leads_to_adding_one(owner_client: Client) -> None:
    page = owner_client.get(reverse("assistant_settings")).content.decode()
    assert reverse("credential_add") + "?kind=nvidia" in page


def test_writing_before_choosing_a_key_leads_to_the_settings(owner_client: Client) -> None:
    response = owner_client.post(reverse("assistant"), BRIEF)
    assert response.status_code == 302 and response["Location"] == reverse("assistant_settings")
