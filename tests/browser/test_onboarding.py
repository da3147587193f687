"""A person signs up, verifies, turns on 2FA, signs in with it and watches a job stream."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.browser.conftest import Panel, sign_up_and_verify

pytestmark = pytest.mark.browser

EMAIL = "ada@example.test"
PASSWORD = "a long and unusual passphrase 7"


def fresh_code(secret: str, used: set[str]) -> str:
    """allauth refuses a TOTP code twice; wait for the next time step when needed."""
    totp = pyotp.TOTP(secret)
    while (code := totp.now()) in used:
        time.sleep(1)
    used.add(code)
    return code


def test_signup_verify_2fa_login_and_watch_a_job_live(
    panel: Panel, browser: Any, artifacts: Path
) -> None:
    page = browser.new_page()
    page.set_default_timeout(15000)
    used_codes: set[str] = set()

    sign_up_and_verify(page, panel, EMAIL, PASSWORD)
    assert page.get_by_role("heading", name="Welcome, Ada").is_visible()

    page.goto(panel.url + "/account/2fa/totp/activate/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/2fa/totp/activate/")
    secret = page.get_by_label("Authenticator secret").input_value()
    page.get_by_label("Authenticator code").fill(fresh_code(secret, used_codes))
    page.get_by_role("button", name="Activate").click()
    # allauth shows the fresh recovery codes right after activation.
    page.wait_for_url("**/2fa/recovery-codes/")
    assert page.get_by_text("Recovery Codes").first.is_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(panel.url + "/")

    page.goto(panel.url + "/account/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/2fa/authenticate/")
    page.get_by_label("Code").fill(fresh_code(secret, used_codes))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/overview/")

    page.get_by_role("button", name="Run a self-test").click()
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}/$"))
    # Lines arrive while the job still runs: the log streams, it is not rendered at the end.
    page.wait_for_selector("[data-job-log] li", timeout=15000)
    assert page.locator("[data-job-state]").inner_text() in {"Queued", "Running"}
    page.wait_for_selector("section.job[data-finished='true']", timeout=30000)
    assert page.locator("[data-job-state]").inner_text() == "Succeeded"
    lines = page.locator("[data-job-log] li").all_inner_texts()
    assert any("Database answers" in line for line in lines)
    assert lines[-1].endswith("All checks passed.")
    assert page.locator("progress").get_attribute("value") == "100"
    page.screenshot(path=str(artifacts / "job-page.png"), full_page=True)
    page.close()


def test_the_panel_is_usable_on_a_phone(panel: Panel, browser: Any, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(panel.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(panel.url + "/account/signup/")
    assert page.get_by_label("I am 18 or older").is_visible()
    page.screenshot(path=str(artifacts / "signup-phone.png"), full_page=True)
    page.close()
