"""Public privacy pages that need no account, mounted at /privacy/report-a-minor/."""

from django.urls import path

from mailpanel.privacy import minor_views

urlpatterns = [
    path("", minor_views.report_minor, name="privacy_minor_report"),
    path("sent/", minor_views.report_minor_sent, name="privacy_minor_report_sent"),
]
