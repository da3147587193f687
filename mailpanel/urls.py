from functools import partial

from django.contrib import admin
from django.urls import include, path

from mailpanel.pages import views as pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("overview/", pages.dashboard, name="dashboard"),
    path("cookies/", pages.cookies, name="cookies"),
    path("privacy/report-a-minor/", include("mailpanel.privacy.public_urls")),
    path("privacy/", include("mailpanel.privacy.policy_urls")),
    path("account/profile/", pages.account_profile, name="account_profile"),
    path("account/data/", include("mailpanel.privacy.urls")),
    path("account/", include("allauth.urls")),
    path("jobs/", include("mailpanel.jobs.urls")),
    path("credentials/", include("mailpanel.vault.urls")),
    path("assistant/", include("mailpanel.assistant.urls")),
    path("servers/", include("mailpanel.servers.urls")),
    path("domains/", include("mailpanel.domains.urls")),
    path("dns/", include("mailpanel.dns.urls")),
    path("activity/", include("mailpanel.activity.urls")),
    path("support/", include("mailpanel.support.urls")),
    path("billing/", include("mailpanel.billing.urls")),
    path("staff/needs-2fa/", pages.staff_needs_mfa, name="staff_needs_mfa"),
    path("staff/", admin.site.urls),
]
for _section in pages.COMING_SOON:
    urlpatterns.append(
        path(f"{_section}/", partial(pages.coming_soon, section=_section), name=_section)
    )
