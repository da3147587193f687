from __future__ import annotations

from django.http import HttpRequest

SECTIONS = [
    ("dashboard", "Overview"),
    ("servers", "Servers"),
    ("domains", "Domains"),
    ("dns", "DNS"),
    ("checks", "Checks"),
    ("assistant", "Assistant"),
    ("job_list", "Jobs"),
    ("activity", "Activity"),
    ("account_profile", "Account"),
]


def navigation(request: HttpRequest) -> dict[str, object]:
    match = getattr(request, "resolver_match", None)
    return {"nav_sections": SECTIONS, "nav_current": match.url_name if match else ""}
