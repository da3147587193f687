from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mailpanel import names, netguard
from mailpanel.accounts.models import User
from mailpanel.servers.models import Server
from mailpanel.vault.models import Credential


class ServerForm(forms.ModelForm[Server]):
    class Meta:
        model = Server
        fields = [
            "name",
            "host",
            "port",
            "username",
            "credential",
            "sudo_credential",
            "mail_hostname",
            "tls_mode",
        ]
        help_texts = {
            "credential": "An SSH key or password from your credentials.",
            "sudo_credential": "Only for a non-root user whose sudo asks for a password.",
            "mail_hostname": "e.g. mail.example.com: the name in HELO, the certificate and PTR.",
        }

    def __init__(self, owner: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        # Room for over-long input, so the name checks explain what is wrong with it.
        for name in ("host", "mail_hostname", "username"):
            self.fields[name].max_length = 600  # type: ignore[attr-defined]
            self.fields[name].validators = []
            self.fields[name].widget.attrs.pop("maxlength", None)
        self.fields["port"].widget.attrs.update(min=1, max=65535)  # a TCP port, never 0
        mine = Credential.objects.filter(owner=owner).defer("secret")
        self.fields["credential"].queryset = mine.filter(  # type: ignore[attr-defined]
            kind__in=["ssh_key", "ssh_password"]
        )
        self.fields["sudo_credential"].queryset = mine.filter(  # type: ignore[attr-defined]
            kind="ssh_password"
        )

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if any(ch in name for ch in "\x00\r\n"):
            raise ValidationError("The name must be one line.")
        taken = Server.objects.filter(owner=self.owner, name=name).exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError("You already have a server with this name.")
        return name

    def clean_host(self) -> str:
        host = names.host_or_ip(self.cleaned_data["host"])
        try:
            netguard.check_host(host)
        except netguard.AddressRefused as exc:
            raise ValidationError(str(exc)) from exc
        return host

    def clean_port(self) -> int:
        return names.port(self.cleaned_data["port"])

    def clean_username(self) -> str:
        return names.unix_user(str(self.cleaned_data["username"]))

    def clean_mail_hostname(self) -> str:
        return names.domain_to_ascii(self.cleaned_data["mail_hostname"], "The mail hostname")


class QueueForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("list", "List"),
            ("flush", "Flush (retry now)"),
            ("hold", "Hold"),
            ("release", "Release"),
            ("delete", "Delete"),
        ]
    )
    queue_id = forms.RegexField(
        regex=r"^([0-9A-Za-z]{5,20}|ALL)$",
        required=False,
        help_text="For hold, release and delete: a queue id from the list, or ALL.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") in {"hold", "release", "delete"} and not data.get("queue_id"):
            raise ValidationError("Give the queue id of the message (or ALL).")
        return data


class MailLogForm(forms.Form):
    lines = forms.IntegerField(min_value=1, max_value=2000, initial=100)
    filter = forms.CharField(max_length=200, required=False)


class RestartForm(forms.Form):
    service = forms.ChoiceField(choices=[(s, s) for s in ("postfix", "opendkim", "dovecot")])


class TestMessageForm(forms.Form):
    sender = forms.EmailField(help_text="An address at one of this server's domains.")
    recipient = forms.EmailField()

    def __init__(self, server: Server, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server = server

    def clean_sender(self) -> str:
        local, domain = self.cleaned_data["sender"].lower().rsplit("@", 1)
        domain = names.domain_to_ascii(domain)  # as the server's tables and DNS name it
        if not self.server.domains.filter(name=domain).exists():
            raise ValidationError("The sender must be at a domain set up on this server.")
        return f"{local}@{domain}"
