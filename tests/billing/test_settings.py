"""Billing's settings are checked at start: a plan nobody could buy, or production without
the webhook's secret, stops the panel with the variable to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pages.test_security import PRODUCTION_ENV, run_python

PRICES = {"MAILPANEL_STRIPE_PRICE_PRO": "price_p", "MAILPANEL_STRIPE_PRICE_BUSINESS": "price_b"}
LOAD = "import django; django.setup(); from django.conf import settings; print('started')"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"MAILPANEL_STRIPE_SECRET_KEY": "sk_test_x"}, "MAILPANEL_STRIPE_PRICE_PRO"),
        (
            {"MAILPANEL_STRIPE_SECRET_KEY": "sk_test_x", "MAILPANEL_STRIPE_PRICE_PRO": "price_p"},
            "MAILPANEL_STRIPE_PRICE_BUSINESS",
        ),
        (
            {**PRODUCTION_ENV, "MAILPANEL_STRIPE_SECRET_KEY": "sk_live_x", **PRICES},
            "MAILPANEL_STRIPE_WEBHOOK_SECRET",
        ),
    ],
)
def test_billing_half_configured_does_not_start(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    result = run_python(LOAD, {**env, "MAILPANEL_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0 and says in result.stderr
    assert "started" not in result.stdout


def test_billing_fully_configured_starts(tmp_path: Path) -> None:
    env = {
        "MAILPANEL_STRIPE_SECRET_KEY": "sk_test_x",
        **PRICES,
        "MAILPANEL_DATA_DIR": str(tmp_path),
    }
    result = run_python(LOAD, env)
    assert result.returncode == 0 and "started" in result.stdout, result.stderr
