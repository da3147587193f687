from django.apps import AppConfig


class InboundConfig(AppConfig):
    name = "mailpanel.inbound"
    label = "inbound"
    verbose_name = "Inbound mail"
