"""A person stores their NVIDIA key, writes from a brief, watches it stream, stops, exports."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.llm import FakeLLM
from tests.browser.conftest import Panel, running_panel, sign_up_and_verify

pytestmark = pytest.mark.browser

EMAIL = "grace@example.test"
PASSWORD = "a long and unusual passphrase 8"
KEY = "nvapi-BrowserTestKey_0123456789abcdef"


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    # Slow enough that a person (and this test) can watch the words arrive and press Stop.
    with FakeLLM(keys={KEY}, pace_ms=150) as fake:
        yield fake


@pytest.fixture(scope="module")
def assistant_panel(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM) -> Iterator[Panel]:
    """``mailpanel serve`` like the shared ``panel`` fixture, pointed at the fake NVIDIA."""
    env = {"MAILPANEL_NVIDIA_API_URL": fake_llm.base_url}
    with running_panel(tmp_path_factory.mktemp("assistant-panel"), env) as panel:
        yield panel


def test_write_watch_it_stream_stop_save_lint_and_export(
    assistant_panel: Panel, fake_llm: FakeLLM, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    panel = assistant_panel
    page = browser.new_page()
    page.set_default_timeout(15000)
    sign_up_and_verify(page, panel, EMAIL, PASSWORD)

    # The key goes into the vault, then the assistant checks and chooses it.
    page.get_by_role("link", name="Assistant").click()
    page.wait_for_url("**/assistant/")
    page.get_by_role("link", name="Choose your key").click()
    page.get_by_role("link", name="Add an NVIDIA API key").click()
    page.get_by_label("Name").fill("My NVIDIA key")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Store encrypted").click()
    page.goto(panel.url + "/assistant/settings/")
    page.get_by_label("NVIDIA API key").select_option(label="My NVIDIA key")
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_url(panel.url + "/assistant/")
    assert page.get_by_text(
        "Your key works; the assistant uses deepseek-ai/deepseek-v3-0324"
    ).is_visible()

    # A brief, in the user's own words.
    page.get_by_label("What are you offering?").fill("Spring gardening tools, 20% off until Sunday")
    page.get_by_label("Who is it for?").fill("hobby gardeners")
    page.get_by_label("Sender name").fill("Greenhouse Goods")
    page.get_by_label("Placeholders").fill("{{first_name}}")
    page.screenshot(path=str(artifacts / "assistant-brief.png"), full_page=True)
    page.get_by_role("button", name="Write").click()
    page.wait_for_url(re.compile(r".*/assistant/drafts/[0-9a-f-]{36}/$"))

    # Tokens arrive one after another: the answer grows while it is being written.
    output = page.locator("[data-output]")
    page.wait_for_selector("[data-draft-stream][data-tokens]")  # set by assistant.js
    first = len(output.text_content() or "")
    time.sleep(0.8)
    second = len(output.text_content() or "")
    assert second > first > 0
    assert page.get_by_role("status").first.inner_text() == "Writing…"

    page.get_by_role("button", name="Stop").click()
    shown = output.text_content() or ""
    time.sleep(0.5)
    assert output.text_content() == shown, "nothing arrives after Stop"
    assert not page.get_by_role("button", name="Stop").is_visible()
    assert shown.startswith("Introducing spring gardening tools")
    page.screenshot(path=str(artifacts / "assistant-stopped.png"), full_page=True)
    page.get_by_role("button", name="Save draft").click()

    # The saved draft: incomplete, linted, previewed, exportable.
    page.wait_for_selector("[data-score]")
    assert page.locator("[data-draft-state]").inner_text() == "Incomplete"
    score = int(page.locator("[data-score]").get_attribute("data-score") or "-1")
    assert 0 <= score < 100
    assert page.get_by_text("No unsubscribe line").is_visible()
    preview = page.frame_locator("iframe.preview")
    assert preview.locator("p").first.inner_text().startswith("Introducing spring")
    page.screenshot(path=str(artifacts / "assistant-draft.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Email (.eml)").click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    assert saved.suffix == ".eml"
    message = email.message_from_bytes(saved.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == "Greenhouse Goods <sender@example.com>"
    assert message["Subject"].startswith("Introducing spring gardening tools")
    assert KEY not in page.content()
    page.close()
