"""A person exports their data, opens the ZIP, then deletes the account and cannot sign in."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Panel, sign_up_and_verify

pytestmark = pytest.mark.browser

EMAIL = "grace@example.test"
PASSWORD = "a long and unusual passphrase 8"


def test_export_download_open_then_delete_and_never_sign_in_again(
    panel: Panel, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(20000)
    sign_up_and_verify(page, panel, EMAIL, PASSWORD)

    page.goto(panel.url + "/account/data/")
    assert page.get_by_role("heading", name="What the panel holds").is_visible()
    page.get_by_role("button", name="Export my data").click()
    page.wait_for_url("**/account/data/exports/*/")
    download_link = page.get_by_role("link", name="Download the ZIP")
    download_link.wait_for(timeout=60000)  # the page refreshes itself while it is prepared
    page.screenshot(path=str(artifacts / "your-data-export.png"), full_page=True)
    with page.expect_download() as info:
        download_link.click()
    saved = tmp_path / "export.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        data = json.loads(zf.read("data.json"))
        assert "README.txt" in zf.namelist()
    assert data["account"]["email"] == EMAIL
    user_rows = data["categories"]["account"]["tables"]["accounts_user"]
    assert user_rows[0]["full_name"] == "Ada Lovelace"

    page.goto(panel.url + "/account/data/")
    page.get_by_role("link", name="Delete my account…").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("I understand").check()
    page.screenshot(path=str(artifacts / "your-data-delete.png"), full_page=True)
    page.get_by_role("button", name="Delete my account now").click()
    page.wait_for_url("**/account/data/deleted/")
    assert page.get_by_role("heading", name="Your account is deleted").is_visible()

    page.goto(panel.url + "/account/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    assert "/account/login/" in page.url
    assert page.get_by_text("not correct").first.is_visible()
