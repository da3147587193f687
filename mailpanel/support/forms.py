from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from mailpanel.support.inbox import panel_addresses
from mailpanel.support.models import SUBJECT_MAX

MESSAGE_MAX = 10_000
HONEYPOT = "website"


def message_field(label: str = "Message") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=f"Up to {MESSAGE_MAX:,} characters.",
    )


class ContactForm(forms.Form):
    email = forms.EmailField(label="Your email", max_length=254)
    subject = forms.CharField(max_length=SUBJECT_MAX)
    message = message_field()
    # Hidden with CSS, not type=hidden: a bot filling every input fills this one too, and
    # a person never sees it (a screen reader is told to leave it empty).
    website = forms.CharField(
        label="Leave this field empty",
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"])
        if email.lower() in panel_addresses():
            raise ValidationError("That is our own address: give yours, so we can answer.")
        return email

    def clean_subject(self) -> str:
        subject = str(self.cleaned_data["subject"])
        if any(ch in subject for ch in "\r\n\u2028\u2029") or not subject.isprintable():
            raise ValidationError("The subject must be one line, without control characters.")
        return subject

    def clean_website(self) -> str:
        if self.cleaned_data.get("website"):
            raise ValidationError("This field must stay empty; nothing was sent.")
        return ""


class ReplyForm(forms.Form):
    message = message_field("Your reply")


class StaffReplyForm(forms.Form):
    message = message_field("Reply")
