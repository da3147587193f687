from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "mailpanel.privacy"
    label = "privacy"
    verbose_name = "Privacy"
