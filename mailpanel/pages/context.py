from __future__ import annotations

from django.http import HttpRequest

# (url name, label, url-name prefix of the pages that belong to the section)
SECTIONS = [
    ("dashboard", "Overview", "dashboard"),
    ("servers", "Servers", "server"),
    ("credential_list", "Credentials", "credential"),
    ("domains", "Domains", "domain"),
    ("dns", "DNS", "dns"),
    ("checks", "Checks", "check"),
    ("assistant", "Assistant", "assistant"),
    ("job_list", "Jobs", "job"),
    ("activity", "Activity", "activity"),
    ("account_profile", "Account", "account"),
]


def navigation(request: HttpRequest) -> dict[str, object]:
    match = getattr(request, "resolver_match", None)
    current = (match.url_name or "") if match else ""
    active = next((name for name, _, prefix in SECTIONS if current.startswith(prefix)), "")
    return {"nav_sections": [(n, label) for n, label, _ in SECTIONS], "nav_current": active}


def mail_outbox(request: HttpRequest) -> dict[str, object]:
    """Where the embedded mode's mail goes (files, not the Internet), for the pages that
    tell a newcomer to look for a message; empty when the panel really sends mail."""
    from django.conf import settings

    outbox = "" if settings.EMAIL_HOST else getattr(settings, "EMAIL_FILE_PATH", "")
    return {"mail_outbox": outbox}
