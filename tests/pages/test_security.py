"""CSP, cookie flags and security headers, read off real responses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "MAILPANEL_MODE": "production",
    "MAILPANEL_SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
    "MAILPANEL_ALLOWED_HOSTS": "panel.example.test",
    "MAILPANEL_HTTPS": "true",
    "MAILPANEL_SMTP_HOST": "smtp.example.test",
    "MAILPANEL_MAIL_FROM": "MailPanel Pro <panel@example.test>",
    # A fixed test key (id:base64 of 32 bytes); production reads keys, never invents one.
    "MAILPANEL_VAULT_KEYS": "ktest:" + "A" * 43,
}


def test_every_page_carries_a_strict_csp_and_security_headers(client: Client, db: None) -> None:
    response = client.get(reverse("home"))

    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "camera=()" in response["Permissions-Policy"]


@pytest.mark.parametrize(
    "name", ["home", "account_login", "account_signup", "cookies", "privacy_policy"]
)
def test_pages_load_no_third_party_assets_and_no_inline_script(
    client: Client, db: None, name: str
) -> None:
    html = client.get(reverse(name)).content.decode()

    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/") or url.startswith("#"), url
    # Every <script> has a src: CSP would block an inline one anyway.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_only_the_session_and_csrf_cookies_are_set(client: Client, db: None) -> None:
    from tests.factories import DEFAULT_PASSWORD, UserFactory

    user = UserFactory.create()
    client.get(reverse("account_login"))
    client.post(reverse("account_login"), {"login": user.email, "password": DEFAULT_PASSWORD})
    client.get(reverse("dashboard"))

    assert set(client.cookies) == {"sessionid", "csrftoken"}
    for morsel in client.cookies.values():
        assert morsel["httponly"]
        assert morsel["samesite"] == "Lax"


def test_cookie_page_names_exactly_the_cookies_that_exist(client: Client, db: None) -> None:
    page = client.get(reverse("cookies")).content.decode()

    assert "<code>sessionid</code>" in page and "<code>csrftoken</code>" in page
    assert page.count("<tr>") == 3  # header + two cookies


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "mailpanel.settings"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_mode_passes_check_deploy(tmp_path: Path) -> None:
    env = {**PRODUCTION_ENV, "MAILPANEL_DATA_DIR": str(tmp_path)}
    code = (
        "import django, sys; django.setup();"
        "from django.core.management import call_command;"
        "call_command('check', '--deploy', '--fail-level', 'WARNING')"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr


def test_production_cookies_are_secure_and_host_prefixed(tmp_path: Path) -> None:
    env = {**PRODUCTION_ENV, "MAILPANEL_DATA_DIR": str(tmp_path)}
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.DEBUG)"
    )
    result = run_python(code, env)
    assert result.stdout.split() == [
        "__Host-sessionid",
        "__Host-csrftoken",
        "True",
        "True",
        "31536000",
        "False",
    ], result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("MAILPANEL_SECRET_KEY", "MAILPANEL_SECRET_KEY (or MAILPANEL_SECRET_KEY_FILE) must be set"),
        ("MAILPANEL_ALLOWED_HOSTS", "MAILPANEL_ALLOWED_HOSTS must be set"),
        ("MAILPANEL_HTTPS", "MAILPANEL_HTTPS=true must be set"),
        ("MAILPANEL_SMTP_HOST", "MAILPANEL_SMTP_HOST must be set"),
        ("MAILPANEL_MAIL_FROM", "MAILPANEL_MAIL_FROM must be set"),
    ],
)
def test_production_mode_refuses_to_start_without_explicit_settings(
    tmp_path: Path, missing: str, message: str
) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    env["MAILPANEL_DATA_DIR"] = str(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILPANEL_")}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "mailpanel.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_secret_key_file_variant_is_read(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-" + "k" * 50)
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "MAILPANEL_SECRET_KEY"}
    env.update(MAILPANEL_SECRET_KEY_FILE=str(key_file), MAILPANEL_DATA_DIR=str(tmp_path))
    result = run_python(
        "import django; django.setup(); from django.conf import settings as s;print(s.SECRET_KEY)",
        env,
    )
    assert result.stdout.strip() == "from-a-file-" + "k" * 50, result.stderr


def test_embedded_mode_generates_a_private_secret_key_once(tmp_path: Path) -> None:
    env = {"MAILPANEL_MODE": "embedded", "MAILPANEL_DATA_DIR": str(tmp_path)}
    code = (
        "import django; django.setup(); from django.conf import settings as s; print(s.SECRET_KEY)"
    )
    first = run_python(code, env).stdout.strip()
    second = run_python(code, env).stdout.strip()

    assert len(first) >= 50 and first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
