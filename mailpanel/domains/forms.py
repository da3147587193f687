from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mailpanel import names
from mailpanel.accounts.models import User
from mailpanel.domains.claims import claimed_elsewhere, claimed_message
from mailpanel.domains.models import SendingDomain, SmtpUser
from mailpanel.servers.models import HostKeyState, Server

DMARC_CHOICES = [("none", "none: monitor only"), ("quarantine", "quarantine"), ("reject", "reject")]
MTA_STS_CHOICES = [
    ("testing", "testing: senders report TLS problems and still deliver"),
    ("enforce", "enforce: senders deliver only over TLS to a certificate they trust"),
]


class DmarcFields(forms.Form):
    """The DMARC policy and report address, asked when a domain is added and changed."""

    dmarc_policy = forms.ChoiceField(label="DMARC policy", choices=DMARC_CHOICES, initial="none")
    report_address = forms.CharField(
        max_length=254,
        label="DMARC report address",
        required=False,
        help_text="Aggregate reports go there, and TLS reports too (no TLS-RPT without one).",
    )

    def clean_report_address(self) -> str:
        return names.report_address(self.cleaned_data["report_address"])


class DomainForm(DmarcFields):
    name = forms.CharField(
        label="Domain", max_length=300, help_text="e.g. example.com or bücher.de"
    )
    server = forms.ModelChoiceField(queryset=Server.objects.none())
    field_order = ["name", "server", "dmarc_policy", "report_address"]

    def __init__(self, owner: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        self.fields["server"].queryset = Server.objects.filter(  # type: ignore[attr-defined]
            owner=owner, host_key_state=HostKeyState.CONFIRMED
        )

    def clean_name(self) -> str:
        name = names.domain_to_ascii(self.cleaned_data["name"])
        if SendingDomain.objects.filter(owner=self.owner, name=name).exists():
            raise ValidationError("This domain is already set up in your panel.")
        if claimed_elsewhere(self.owner.pk, name):
            raise ValidationError(claimed_message(name))
        return name


class DomainPolicyForm(DmarcFields):
    """What receivers and senders are told to do: DMARC policy and reports, MTA-STS mode."""

    mta_sts_mode = forms.ChoiceField(label="MTA-STS mode", choices=MTA_STS_CHOICES)

    def __init__(self, domain: SendingDomain, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "dmarc_policy": domain.dmarc_policy,
                "report_address": domain.dmarc_report_address,
                "mta_sts_mode": domain.mta_sts_mode,
            },
        )
        super().__init__(*args, **kwargs)
        self.domain = domain

    def clean_mta_sts_mode(self) -> str:
        mode = str(self.cleaned_data["mta_sts_mode"])
        if mode == "enforce" and not self.domain.server.uses_acme:
            raise ValidationError(
                "Enforce needs the server's certificate to be one senders trust: switch "
                f"{self.domain.server.name} to an ACME certificate first."
            )
        return mode


class SmtpUserForm(forms.Form):
    local_part = forms.CharField(label="Mailbox name", max_length=64, help_text="the part before @")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        strip=False,
        help_text="Leave empty and the panel generates a strong one, shown once.",
        min_length=12,
        max_length=200,
    )

    def __init__(self, domain: SendingDomain, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.domain = domain

    def clean_local_part(self) -> str:
        local = names.local_part(self.cleaned_data["local_part"])
        if SmtpUser.objects.filter(domain=self.domain, local_part=local).exists():
            raise ValidationError("This SMTP user exists already.")
        return local

    def clean_password(self) -> str:
        password: str = self.cleaned_data.get("password") or ""
        if any(ch in password for ch in "\x00\r\n:"):
            raise ValidationError("The password may not contain line breaks or “:”.")
        return password
