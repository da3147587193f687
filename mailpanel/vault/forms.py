from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mailpanel.accounts.models import User
from mailpanel.vault.kinds import KINDS, CredentialKind, check_payload
from mailpanel.vault.models import Credential

LABEL_HELP = "A name for you, e.g. “deploy key” or “Cloudflare, example.com”."


def clean_label(owner: User, label: str, exclude: Credential | None = None) -> str:
    label = label.strip()
    if any(ch in label for ch in "\x00\r\n"):
        raise ValidationError("The name must be one line.")
    taken = Credential.objects.filter(owner=owner, label=label)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError("You already have a credential with this name.")
    return label


def secret_field(spec_label: str, multiline: bool, required: bool, help_text: str) -> forms.Field:
    widget: forms.Widget = (
        forms.Textarea(attrs={"rows": 8, "autocomplete": "off", "spellcheck": "false"})
        if multiline
        else forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False)
    )
    # strip=False: a key or password is used exactly as pasted; the kind's check trims.
    return forms.CharField(
        label=spec_label, required=required, widget=widget, help_text=help_text, strip=False
    )


class SecretForm(forms.Form):
    """The secret fields of one credential kind; ``clean`` runs the kind's checks."""

    def __init__(self, kind: CredentialKind, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        for spec in kind.fields:
            self.fields[spec.name] = secret_field(
                spec.label, spec.multiline, spec.required, spec.help_text
            )
        self.payload: dict[str, str] = {}
        self.metadata: dict[str, Any] = {}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        raw = {spec.name: data.get(spec.name) or "" for spec in self.kind.fields}
        self.payload, self.metadata = check_payload(self.kind, raw)
        return data


class NewCredentialForm(SecretForm):
    def __init__(self, owner: User, kind: CredentialKind, *args: Any, **kwargs: Any) -> None:
        super().__init__(kind, *args, **kwargs)
        self.owner = owner
        self.fields["label"] = forms.CharField(label="Name", max_length=100, help_text=LABEL_HELP)
        self.order_fields(["label", *[spec.name for spec in kind.fields]])

    def clean_label(self) -> str:
        return clean_label(self.owner, self.cleaned_data["label"])


class RenameForm(forms.Form):
    label = forms.CharField(label="Name", max_length=100)

    def __init__(self, credential: Credential, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credential = credential

    def clean_label(self) -> str:
        return clean_label(self.credential.owner, self.cleaned_data["label"], self.credential)


class GenerateKeyForm(forms.Form):
    label = forms.CharField(label="Name", max_length=100, help_text=LABEL_HELP)

    def __init__(self, owner: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner

    def clean_label(self) -> str:
        return clean_label(self.owner, self.cleaned_data["label"])


def kind_or_none(value: str | None) -> CredentialKind | None:
    return KINDS.get(value or "")
