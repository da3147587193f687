from django.apps import AppConfig


class DomainsConfig(AppConfig):
    name = "mailpanel.domains"
    label = "domains"
    verbose_name = "Sending domains"
