"""The registry is the one list of personal data: nothing escapes it."""

from __future__ import annotations

from django.conf import settings

from mailpanel.privacy.registry import (
    NOT_PERSONAL,
    categories,
    holdings,
    models_with_a_path_to_users,
    registered_models,
)
from mailpanel.privacy.retention import PERIODS, PURGES


def test_every_model_with_a_path_to_a_user_is_in_a_category() -> None:
    escaped = models_with_a_path_to_users() - registered_models() - set(NOT_PERSONAL)
    assert not escaped, f"add these models to mailpanel/privacy/registry.py: {sorted(escaped)}"


def test_the_path_finder_sees_models_two_steps_away() -> None:
    # A job's log lines reach the user through the job: the check above must see them.
    reach = models_with_a_path_to_users()
    assert {"jobs.JobLogLine", "servers.FleetRunItem", "account.EmailConfirmation"} <= reach


def test_each_holding_names_fields_its_model_has_and_a_working_path() -> None:
    for holding in holdings():
        names = {f.name for f in holding.model_class._meta.get_fields()}
        missing = set(holding.fields + holding.secret_fields) - names
        assert not missing, f"{holding.model}: no field {missing}"
        assert not set(holding.fields) & set(holding.secret_fields), holding.model
        str(holding.rows_of(1).query)  # the user path resolves


def test_secrets_are_never_among_the_exported_fields() -> None:
    exported = {(h.model, f) for h in holdings() for f in h.fields}
    for sealed in [
        ("vault.Credential", "secret"),
        ("domains.DkimKey", "secret"),
        ("accounts.User", "password"),
        ("mfa.Authenticator", "data"),
        ("usersessions.UserSession", "session_key"),
        ("account.EmailConfirmation", "key"),
        ("domains.SmtpUser", "password_hash"),
    ]:
        assert sealed not in exported


def test_one_table_of_periods_for_the_purge_and_the_page() -> None:
    keys = set(settings.RETENTION_DAYS)
    assert {p.key for p in PERIODS} == keys == set(PURGES)
    assert {c.retention for c in categories() if c.retention} <= keys


def test_a_retention_override_reaches_the_page_and_the_purge(settings: object) -> None:
    from mailpanel.privacy.registry import category

    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "job_log_lines": 12}  # type: ignore[attr-defined]
    assert category("job_log_lines").retention_text == "12 days"
