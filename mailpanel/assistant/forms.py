"""The assistant's forms: every input bounded in length, every choice from a list."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mailpanel.accounts.models import User
from mailpanel.assistant import prompts
from mailpanel.assistant.models import DraftKind
from mailpanel.vault.models import Credential

MAX_REWRITE_CHARS = 20_000
MAX_TEXT_CHARS = 50_000
MAX_HTML_CHARS = 200_000
_TOO_LONG = "At most %(limit_value)s characters are accepted here; this has %(show_value)s."
_PLACEHOLDER_TOKEN = re.compile(r"\{\{[A-Za-z_][A-Za-z0-9_]*\}\}")

GENERATE_KINDS = [
    (DraftKind.EMAIL.value, "A complete email"),
    (DraftKind.SUBJECTS.value, "Subject lines"),
    (DraftKind.PREHEADERS.value, "Preheaders"),
    (DraftKind.BODY.value, "Body only (text and HTML)"),
]
TONE_CHOICES = [(key, key.capitalize()) for key in prompts.TONES]
LENGTH_CHOICES = [
    (key, f"{key.capitalize()} (about {n} words)") for key, n in prompts.LENGTHS.items()
]
LANGUAGE_CHOICES = [(name, name) for name in prompts.LANGUAGES]


def _text(
    label: str,
    limit: int,
    required: bool = False,
    rows: int = 0,
    error_messages: dict[str, str] | None = None,
    **kw: Any,
) -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput()
    return forms.CharField(
        label=label,
        max_length=limit,
        required=required,
        widget=widget,
        error_messages={"max_length": _TOO_LONG, **(error_messages or {})},
        **kw,
    )


class BriefForm(forms.Form):
    kind = forms.ChoiceField(label="Write", choices=GENERATE_KINDS)
    offer = _text(
        "What are you offering?",
        2000,
        required=True,
        rows=4,
        help_text="The product, service or news, with the facts the email may use.",
        error_messages={"required": "Describe what you are offering: the assistant needs a brief."},
    )
    audience = _text("Who is it for?", 500, help_text="E.g. “customers who bought last year”.")
    tone = forms.ChoiceField(choices=TONE_CHOICES)
    length = forms.ChoiceField(choices=LENGTH_CHOICES, initial="medium")
    language = forms.ChoiceField(choices=LANGUAGE_CHOICES)
    call_to_action = _text("Call to action", 200, help_text="E.g. “Book a demo”.")
    sender_name = _text("Sender name", 100)
    company = _text("Company", 100)
    placeholders = _text(
        "Placeholders",
        300,
        help_text="Kept exactly as written, e.g. {{first_name}}, {{company}}.",
    )
    variants = forms.IntegerField(
        label="How many subject lines or preheaders", min_value=1, max_value=10, initial=5
    )

    def clean_placeholders(self) -> str:
        raw = str(self.cleaned_data.get("placeholders") or "")
        tokens = [t for t in re.split(r"[\s,;]+", raw) if t]
        bad = [t for t in tokens if not _PLACEHOLDER_TOKEN.fullmatch(t)]
        if bad:
            raise ValidationError(
                f"Write placeholders as {{{{name}}}} with letters, digits and _ only: {bad[0]}"
            )
        return ", ".join(tokens)

    def inputs(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "kind" and v not in ("", None)}


class RewriteForm(forms.Form):
    text = _text(
        "Your text",
        MAX_REWRITE_CHARS,
        required=True,
        rows=12,
        error_messages={"required": "Paste the text to rewrite."},
    )
    action = forms.ChoiceField(
        choices=list(prompts.REWRITE_ACTIONS.items()), widget=forms.RadioSelect, initial="shorten"
    )
    tone = forms.ChoiceField(choices=TONE_CHOICES, help_text="For “Change the tone”.")
    language = forms.ChoiceField(choices=LANGUAGE_CHOICES, help_text="For “Translate”.")

    def inputs(self) -> dict[str, Any]:
        data = self.cleaned_data
        inputs: dict[str, Any] = {"action": data["action"], "text": data["text"]}
        if data["action"] == "tone":
            inputs["tone"] = data["tone"]
        if data["action"] == "translate":
            inputs["language"] = data["language"]
        return inputs


class CheckForm(forms.Form):
    """An email's four parts: pasted to be checked, or a draft edited."""

    subject = _text("Subject", 300)
    preheader = _text("Preheader", 300)
    text = _text("Plain text", MAX_TEXT_CHARS, rows=10)
    html = _text("HTML", MAX_HTML_CHARS, rows=10, help_text="Scripts and styles are removed.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            not self.errors
            and not (data.get("text") or "").strip()
            and not (data.get("html") or "").strip()
        ):
            raise ValidationError("Paste the plain text, the HTML, or both.")
        return data


class StopForm(forms.Form):
    """The text a page showed when its user pressed Stop."""

    text = _text("Text", MAX_TEXT_CHARS, strip=False)


class SettingsForm(forms.Form):
    credential = forms.ModelChoiceField(
        label="NVIDIA API key",
        queryset=Credential.objects.none(),
        empty_label=None,
        help_text="One of your stored NVIDIA keys (Credentials → Add → NVIDIA API key).",
    )
    model_id = forms.CharField(label="Model", required=False, max_length=200)

    def __init__(self, user: User, offered: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["credential"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Credential.objects.filter(owner=user, kind="nvidia").defer("secret")
        if offered:
            self.fields["model_id"].widget = forms.Select(choices=[(m, m) for m in offered])
            self.fields["model_id"].help_text = "DeepSeek models NVIDIA offers to this key."
        else:
            self.fields["model_id"].widget = forms.HiddenInput()


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", max_length=200, required=False)
