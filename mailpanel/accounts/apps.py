from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mailpanel.accounts"
    label = "accounts"
    verbose_name = "Accounts"
