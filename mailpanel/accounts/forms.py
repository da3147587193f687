"""The extra signup fields: name, company, the 18+ box and the privacy policy."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm
from allauth.account.internal.flows.manage_email import email_already_exists
from django import forms
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html

from mailpanel.accounts.models import User
from mailpanel.privacy.models import PolicyVersion


def policy_link() -> str:
    return format_html('<a href="{}">Read the privacy policy</a>', reverse("privacy_policy"))


class PanelSignupForm(SignupForm):  # type: ignore[misc]
    """allauth's signup form plus name, company, the 18+ box and the privacy policy."""

    field_order = [
        "full_name",
        "email",
        "company",
        "password1",
        "password2",
        "is_adult",
        "accept_policy",
    ]

    full_name = forms.CharField(label="Full name", max_length=150, strip=True)
    company = forms.CharField(label="Company (optional)", max_length=150, required=False)
    is_adult = forms.BooleanField(
        label="I am 18 or older",
        required=True,
        error_messages={"required": "You must be 18 or older to use MailPanel Pro."},
    )
    accept_policy = forms.BooleanField(
        label="I have read and accept the privacy policy",
        required=True,
        help_text=lazy(policy_link, str)(),
        error_messages={"required": "Please read and accept the privacy policy to sign up."},
    )

    def clean_full_name(self) -> str:
        name: str = self.cleaned_data["full_name"]
        if any(ch in name for ch in "\r\n\x00<>"):
            raise forms.ValidationError("Please enter your name without special characters.")
        if not name:
            raise forms.ValidationError("Please enter your full name.")
        return name

    def clean_accept_policy(self) -> bool:
        if PolicyVersion.current() is None:
            raise forms.ValidationError("Signup is closed: no privacy policy is published.")
        return bool(self.cleaned_data["accept_policy"])

    def validate_unique_email(self, value: str) -> str:
        # A clear error beats a silent "check your inbox": the rate limit on signup
        # bounds what an enumerating caller can learn.
        email, self.account_already_exists = email_already_exists(value, always_raise=True)
        return str(email)

    def save(self, request: HttpRequest) -> Any:
        user = super().save(request)
        self._save_details(request, user)
        return user

    def _save_details(self, request: HttpRequest, user: User) -> None:
        from mailpanel.privacy.actions import record_policy_acceptance

        user.full_name = self.cleaned_data["full_name"]
        user.company = self.cleaned_data.get("company", "")
        user.adult_confirmed_at = timezone.now()
        user.save(update_fields=["full_name", "company", "adult_confirmed_at"])
        record_policy_acceptance(user, request)


class ProfileForm(forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ["full_name", "company"]
        labels = {"full_name": "Full name", "company": "Company (optional)"}
