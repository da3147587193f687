from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "mailpanel.support"
    label = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from mailpanel.inbound.routing import SUPPORT, register
        from mailpanel.support.actions import handle_support_mail

        register(SUPPORT, handle_support_mail)
