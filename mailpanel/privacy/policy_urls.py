"""The public privacy policy, mounted at /privacy/."""

from django.urls import path

from mailpanel.privacy import policy_views

urlpatterns = [
    path("", policy_views.privacy_policy, name="privacy_policy"),
    path("versions/<str:version>/", policy_views.policy_version, name="privacy_policy_version"),
    path(
        "versions/<str:version>/acknowledge/",
        policy_views.policy_acknowledge,
        name="privacy_policy_acknowledge",
    ),
    path("diff/", policy_views.policy_diff, name="privacy_policy_diff"),
]
