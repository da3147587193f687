"""The extra signup fields: name, company, the 18+ box and the privacy policy."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm
from django import forms
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html

from mailpanel.accounts.models import User
from mailpanel.privacy.models import PolicyVersion


def person_name(value: str, what: str, required: bool = True) -> str:
    """A name as signup and the profile both take it: one line, no markup characters."""
    name = (value or "").strip()
    if any(ch in name for ch in "\r\n\x00<>") or not name.isprintable():
        raise forms.ValidationError(f"Please enter {what} without special characters.")
    if required and not name:
        raise forms.ValidationError(f"Please enter {what}.")
    return name


class NameFields:
    """The name and company checks, shared by signup and the profile page."""

    cleaned_data: dict[str, Any]

    def clean_full_name(self) -> str:
        return person_name(self.cleaned_data["full_name"], "your full name")

    def clean_company(self) -> str:
        return person_name(self.cleaned_data.get("company", ""), "the company", required=False)


def policy_link() -> str:
    return format_html('<a href="{}">Read the privacy policy</a>', reverse("privacy_policy"))


class PanelSignupForm(NameFields, SignupForm):  # type: ignore[misc]
    """allauth's signup form plus name, company, the 18+ box and the privacy policy."""

    field_order = [
        "full_name",
        "email",
        "company",
        "password1",
        "password2",
        "is_adult",
        "accept_policy",
        "accept_transfers",
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

    accept_transfers = forms.BooleanField(
        label="I agree that what an action needs goes to the services I choose, some outside "
        "my country: NVIDIA in the USA for the assistant, Stripe for payments if I subscribe, "
        "my DNS providers and my servers wherever they are",
        required=True,
        error_messages={
            "required": "The panel cannot work without sending your records to your DNS "
            "provider and your commands to your servers: please agree to sign up."
        },
    )

    def clean_accept_policy(self) -> bool:
        if PolicyVersion.current() is None:
            raise forms.ValidationError("Signup is closed: no privacy policy is published.")
        return bool(self.cleaned_data["accept_policy"])

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
        record_policy_acceptance(user, request, transfers=True)


class ProfileForm(NameFields, forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ["full_name", "company"]
        labels = {"full_name": "Full name", "company": "Company (optional)"}
