from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mailpanel import names
from mailpanel.accounts.models import User
from mailpanel.dns.models import DnsAccount
from mailpanel.dns.providers.registry import PROVIDERS
from mailpanel.vault.models import Credential


class AccountForm(forms.Form):
    credential = forms.ModelChoiceField(
        queryset=Credential.objects.none(),
        help_text="A Cloudflare, Name.com or OpenProvider credential from your credentials.",
    )
    label = forms.CharField(max_length=100, help_text="e.g. “Cloudflare, work account”")

    def __init__(self, owner: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.fields["credential"].queryset = Credential.objects.filter(  # type: ignore[attr-defined]
            owner=owner, kind__in=list(PROVIDERS)
        ).defer("secret")

    def clean_label(self) -> str:
        label = str(self.cleaned_data["label"]).strip()
        if any(ch in label for ch in "\x00\r\n"):
            raise ValidationError("The label must be one line.")
        if DnsAccount.objects.filter(owner=self.owner, label=label).exists():
            raise ValidationError("You already have a DNS account with this label.")
        return label


class LinkForm(forms.Form):
    """A zone of one of the owner's accounts, as `account id:zone name`."""

    zone = forms.ChoiceField(label="Zone")

    def __init__(self, accounts: list[DnsAccount], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts = {str(a.pk): a for a in accounts}
        self.fields["zone"].choices = [  # type: ignore[attr-defined]
            (f"{a.pk}:{z['name']}", f"{names.domain_to_unicode(z['name'])} ({a.label})")
            for a in accounts
            for z in a.zones
        ]

    def clean_zone(self) -> tuple[DnsAccount, str]:
        account_id, _, zone = str(self.cleaned_data["zone"]).partition(":")
        return self.accounts[account_id], names.domain_to_ascii(zone, "The zone")


class PlanForm(forms.Form):
    ttl = forms.IntegerField(
        label="TTL (seconds)",
        min_value=1,
        max_value=604800,
        initial=3600,
        help_text="Providers have their own limits (Name.com 300 s, OpenProvider 600 s at least): "
        "the plan adjusts to them and says so.",
    )
    force = forms.BooleanField(
        required=False,
        label="Force: allow changing more than 30% of a large zone",
    )


class ApplyForm(forms.Form):
    force = forms.BooleanField(required=False, label="I checked the zone: apply it anyway")


class TestMailForm(forms.Form):
    recipient = forms.EmailField(help_text="An address of yours at another mail provider.")
