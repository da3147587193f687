"""Forms of data requests and minor reports: the requester's, the public one, the staff's."""

from __future__ import annotations

from typing import Any

from django import forms

from mailpanel.accounts.models import User
from mailpanel.privacy.models import RequestKind
from mailpanel.privacy.requests import DETAILS_MAX, account_for

NEEDS_DETAILS = (RequestKind.CORRECTION, RequestKind.OBJECTION, RequestKind.OTHER)
NOTE_MAX = 480  # the audit's note holds 500, with room for what the panel adds


def _text(label: str, *, required: bool = True, max_length: int = DETAILS_MAX, **kw: Any) -> Any:
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": max_length}),
        **kw,
    )


class DataRequestForm(forms.Form):
    kind = forms.ChoiceField(label="What would you like?", choices=RequestKind.choices)
    details = _text(
        "Details",
        required=False,
        help_text=f"Up to {DETAILS_MAX:,} characters. For a correction, say what is wrong and "
        "what it should be; for an objection, which processing and why.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") in NEEDS_DETAILS and not data.get("details", "").strip():
            self.add_error("details", "Tell us what you would like, so we can act on it.")
        return data


class MinorReportForm(forms.Form):
    reported_email = forms.EmailField(
        label="The email address of the account",
        max_length=254,
        help_text="The account you believe belongs to someone under 18.",
    )
    reporter_email = forms.EmailField(
        label="Your email address (optional)",
        max_length=254,
        required=False,
        help_text="Only if you would like us to be able to ask you something. We do not "
        "write to it otherwise.",
    )
    details = _text("What makes you think so? (optional)", required=False)


class ReplyForm(forms.Form):
    text = _text("The reply the requester receives")


class RefuseForm(forms.Form):
    text = _text("The reason, sent to the requester")


class VerifyIdentityForm(forms.Form):
    note = _text("How was the identity verified?", max_length=NOTE_MAX)
    account_email = forms.EmailField(
        label="The account it concerns (optional)",
        required=False,
        max_length=254,
        help_text="When the requester wrote from another address than their account's.",
    )

    def clean_account_email(self) -> User | None:
        address: str = self.cleaned_data.get("account_email") or ""
        if not address:
            return None
        user = account_for(address)
        if user is None:
            raise forms.ValidationError("No active account has this address.")
        return user


class DecisionForm(forms.Form):
    note = _text("The reason for the decision (kept in the audit)", max_length=NOTE_MAX)
