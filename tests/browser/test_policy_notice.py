"""Staff publish a material policy change; a member signs in, sees the banner, reads what
changed and acknowledges it, and the banner is gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, SAFE_ENV, Panel, sign_up_and_verify

pytestmark = pytest.mark.browser

EMAIL = "ada.policy@example.test"
PASSWORD = "a long and unusual passphrase 9"
ADDED_LINE = "- Payments go through our payment processor, who keeps the receipts."

PUBLISH = f"""
from datetime import timedelta
from django.utils import timezone
from mailpanel.accounts.models import User
from mailpanel.privacy.models import PolicyVersion
from mailpanel.privacy.policy import start_notice

staff = User.objects.create_user(
    email="staff.policy@example.test", password=None, full_name="Sam Staff", is_staff=True
)
current = PolicyVersion.current()
policy = PolicyVersion.objects.create(
    version="2027-01-15",
    published_at=timezone.now() + timedelta(days=30),
    summary="We name our payment processor.",
    text=current.text.rstrip() + "\\n" + {ADDED_LINE!r} + "\\n",
    material=True,
    created_by=staff,
)
print(start_notice(policy))
"""

STATE = """
import json
from mailpanel.privacy.models import PolicyNotice
n = PolicyNotice.objects.get(user__email="ada.policy@example.test", policy__version="2027-01-15")
print(json.dumps({"state": n.state, "seen": bool(n.seen_at), "acked": bool(n.acknowledged_at)}))
"""


def panel_shell(panel: Panel, code: str) -> str:
    """``mailpanel manage shell -c`` against the running panel's own data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILPANEL_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(SAFE_ENV, MAILPANEL_DATA_DIR=str(panel.data_dir))
    done = subprocess.run(
        [sys.executable, "-m", "mailpanel.cli", "manage", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def mail_with(outbox: Path, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for file in outbox.glob("*.log"):
            text = file.read_text()
            if needle in text:
                return text
        time.sleep(0.2)
    raise AssertionError(f"no mail with {needle!r} in {outbox}")


def test_a_member_sees_the_change_reads_the_diff_and_acknowledges_it(
    panel: Panel, browser: Any, artifacts: Path
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(20000)
    sign_up_and_verify(page, panel, EMAIL, PASSWORD)
    page.get_by_role("button", name="Sign out").click()

    assert panel_shell(panel, PUBLISH) == "2"  # the member and the staff member
    mail = mail_with(panel.outbox, "Our privacy policy changes on")  # the worker sent it
    assert "We name our payment processor." in mail and "/privacy/diff/?from=" in mail

    page.goto(panel.url + "/account/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/overview/")
    banner = page.locator("[data-policy-banner]")
    assert banner.is_visible()
    assert "We name our payment processor." in banner.inner_text()
    page.screenshot(path=str(artifacts / "policy-banner.png"), full_page=True)

    banner.get_by_role("link", name="What changed").click()
    page.wait_for_url("**/privacy/diff/**")
    added = page.locator("table[data-policy-diff] ins")
    assert ADDED_LINE in added.first.inner_text()
    page.screenshot(path=str(artifacts / "policy-diff.png"), full_page=True)

    page.locator("[data-policy-banner]").get_by_role("button", name="I have read it").click()
    page.wait_for_url("**/privacy/diff/**")
    assert page.get_by_text("Thank you: you have read version 2027-01-15.").is_visible()
    assert page.locator("[data-policy-banner]").count() == 0
    page.goto(panel.url + "/overview/")
    assert page.locator("[data-policy-banner]").count() == 0

    page.goto(panel.url + "/privacy/")
    assert page.get_by_text("Last updated 1 November 2026").is_visible()
    history = page.locator("table[data-policy-history]")
    assert "takes effect on" in history.inner_text()
    page.screenshot(path=str(artifacts / "policy-page.png"), full_page=True)

    state = json.loads(panel_shell(panel, STATE))
    assert state == {"state": "sent", "seen": True, "acked": True}
