"""The staff form of an incident: its facts, the audience, the notice."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.utils import timezone

from mailpanel.privacy import breach
from mailpanel.privacy.models import Incident
from mailpanel.privacy.registry import categories
from mailpanel.vault.models import KIND_CHOICES

NOTICE_TEXT_MAX = 10_000
EMAIL_MAX = 254
UPLOAD_MAX_BYTES = 5 * 2**20
SHOWN_BAD = 20
AUDIENCE_CHOICES = [
    (breach.ALL, "All active users"),
    (breach.CREDENTIAL_KIND, "Users holding a credential of a kind"),
    (breach.ACTIVE_BETWEEN, "Users with activity in a time window"),
    (breach.EMAILS, "A list of email addresses"),
]
_SEPARATORS = re.compile(r"[\s,;]+")


def parse_addresses(text: str) -> tuple[list[str], list[str]]:
    """(the addresses, lower case and each once; what is not an address), in order."""
    good: dict[str, None] = {}
    bad: list[str] = []
    for token in _SEPARATORS.split(text):
        address = token.strip("\"'<>")
        if not address or (not good and not bad and address.lower() == "email"):
            continue  # a CSV file's header
        try:
            if len(address) > EMAIL_MAX:
                raise ValidationError("too long")
            validate_email(address)
        except ValidationError:
            bad.append(address)
        else:
            good[address.lower()] = None
    return list(good), bad


def read_upload(upload: UploadedFile) -> str:
    data: bytes = upload.read(UPLOAD_MAX_BYTES + 1)
    if len(data) > UPLOAD_MAX_BYTES:
        raise ValidationError("The file is larger than 5 MB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("The file is not UTF-8 text: save it as plain text or CSV.") from exc


def _not_addresses(bad: list[str]) -> str:
    shown = ", ".join(repr(address[:80]) for address in bad[:SHOWN_BAD])
    more = f" and {len(bad) - SHOWN_BAD} more" if len(bad) > SHOWN_BAD else ""
    return (
        f"{len(bad)} of these are not email addresses: {shown}{more}. "
        "Nothing was saved: correct the list and save again."
    )


class IncidentForm(forms.ModelForm[Incident]):
    categories = forms.MultipleChoiceField(
        label="Affected categories of data",
        choices=[(cat.key, cat.title) for cat in categories()],
        widget=forms.CheckboxSelectMultiple,
    )
    audience_kind = forms.ChoiceField(
        label="Who is affected", choices=AUDIENCE_CHOICES, widget=forms.RadioSelect
    )
    credential_kind = forms.ChoiceField(
        label="Credential kind", choices=[("", "---------"), *KIND_CHOICES], required=False
    )
    active_from = forms.SplitDateTimeField(
        label="Activity from", widget=AdminSplitDateTime, required=False
    )
    active_to = forms.SplitDateTimeField(
        label="Activity until", widget=AdminSplitDateTime, required=False
    )
    emails = forms.CharField(
        label="Email addresses",
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="One per line, or separated by commas. Addresses of no account are notified too.",
    )
    emails_file = forms.FileField(
        label="…or a file of them",
        required=False,
        help_text="Plain text or CSV (UTF-8), up to 5 MB; added to those pasted above.",
    )
    notice_text = forms.CharField(
        label="Notice text",
        widget=forms.Textarea(attrs={"rows": 14}),
        max_length=NOTICE_TEXT_MAX,
        help_text="Plain text, up to 10,000 characters: what we have done about it and what "
        "the user should do. The mail adds what happened, the categories and the contact.",
    )

    class Meta:
        model = Incident
        fields = [
            "title",
            "aware_at",
            "what_happened",
            "categories",
            "notice_subject",
            "notice_text",
        ]
        help_texts = {"aware_at": "When we became aware of the breach (UTC): the 72 hours start."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        audience = self.instance.audience or {}
        self.initial.setdefault("audience_kind", audience.get("kind", breach.ALL))
        self.initial.setdefault("credential_kind", audience.get("credential_kind", ""))
        for name, key in (("active_from", "from"), ("active_to", "to")):
            if audience.get(key):
                self.initial.setdefault(name, audience[key])
        self.initial.setdefault("emails", "\n".join(audience.get("emails", [])))

    def clean_aware_at(self) -> Any:
        aware_at = self.cleaned_data["aware_at"]
        if aware_at and aware_at > timezone.now():
            raise ValidationError("The moment we became aware cannot be in the future.")
        return aware_at

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("audience_kind")
        # Each kind: the field its error belongs to, and how its audience is read.
        audience_of: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
            breach.ALL: ("audience_kind", lambda: {"kind": breach.ALL}),
            breach.CREDENTIAL_KIND: ("credential_kind", self._credential_audience),
            breach.ACTIVE_BETWEEN: ("active_from", self._window_audience),
            breach.EMAILS: ("emails", self._email_audience),
        }
        if kind in audience_of:
            field, read = audience_of[kind]
            try:
                self.instance.audience = read()
            except ValidationError as error:
                self.add_error(field, error)
        return data

    def _credential_audience(self) -> dict[str, Any]:
        kind = self.cleaned_data.get("credential_kind")
        if not kind:
            raise ValidationError("Choose the kind of credential.")
        return {"kind": breach.CREDENTIAL_KIND, "credential_kind": kind}

    def _window_audience(self) -> dict[str, Any]:
        start, end = self.cleaned_data.get("active_from"), self.cleaned_data.get("active_to")
        if not start or not end:
            raise ValidationError("Give both ends of the activity window.")
        if start >= end:
            raise ValidationError("The activity window must start before it ends.")
        return {"kind": breach.ACTIVE_BETWEEN, "from": start.isoformat(), "to": end.isoformat()}

    def _email_audience(self) -> dict[str, Any]:
        text = self.cleaned_data.get("emails") or ""
        upload = self.cleaned_data.get("emails_file")
        if upload:
            text += "\n" + read_upload(upload)
        good, bad = parse_addresses(text)
        if bad:
            raise ValidationError(_not_addresses(bad))
        if not good:
            raise ValidationError("Paste or upload at least one email address.")
        return {"kind": breach.EMAILS, "emails": good}
