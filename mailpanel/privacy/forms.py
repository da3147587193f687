"""Forms of the Your data pages. The destructive ones ask who you are once more."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django import forms

from mailpanel.accounts.models import User

PASSPHRASE_MIN = 12


class ConfirmIdentityForm(forms.Form):
    """Your password and, when two-factor authentication is on, a code from it."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label="A code from your authenticator app (or a recovery code)",
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.needs_code = is_mfa_enabled(user)
        if not self.needs_code:
            del self.fields["code"]

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password

    def clean_code(self) -> str:
        code: str = self.cleaned_data.get("code", "").strip().replace(" ", "")
        if "password" not in self.cleaned_data:
            return code  # a code is used once: not spent on a request refused anyway
        if not code:
            raise forms.ValidationError("Enter a code from your authenticator app.")
        methods = Authenticator.objects.filter(user=self.user).exclude(
            type=Authenticator.Type.WEBAUTHN
        )
        if not any(method.wrap().validate_code(code) for method in methods):
            raise forms.ValidationError("That code is not valid.")
        return code


class DeleteAccountForm(ConfirmIdentityForm):
    understood = forms.BooleanField(
        label="I understand that this deletes my account and every secret in it at once, "
        "and cannot be undone."
    )


class KeysDownloadForm(ConfirmIdentityForm):
    passphrase = forms.CharField(
        label="A passphrase for the ZIP file",
        strip=False,
        min_length=PASSPHRASE_MIN,
        max_length=200,
        help_text=f"At least {PASSPHRASE_MIN} characters. The panel never stores it: "
        "without it the file cannot be opened.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    passphrase_again = forms.CharField(
        label="The passphrase again",
        strip=False,
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("passphrase") and data.get("passphrase") != data.get("passphrase_again"):
            self.add_error("passphrase_again", "The two passphrases differ.")
        return data
