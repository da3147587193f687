from django.apps import AppConfig


class DnsConfig(AppConfig):
    name = "mailpanel.dns"
    label = "dns"
    verbose_name = "DNS automation"

    def ready(self) -> None:
        # Registers the dns.* job kinds.
        from mailpanel.dns import jobs, rotation  # noqa: F401
