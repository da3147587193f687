"""A browser that keeps no cookie cannot sign in, and is told why."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Panel

pytestmark = pytest.mark.browser


def test_with_cookies_blocked_signing_in_says_cookies_are_needed(
    panel: Panel, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(panel.url + "/account/login/")
    page.get_by_label("Email").fill("anyone@example.test")
    page.get_by_label("Password").fill("a long and unusual passphrase 8")
    # What a browser that blocks cookies does: it keeps none of those the page set.
    context.clear_cookies()
    page.get_by_role("button", name="Sign In").click()
    heading = page.get_by_role("heading", name="Cookies are needed to sign in")
    heading.wait_for()
    assert page.get_by_text("Allow cookies for this site").is_visible()
    context.close()
