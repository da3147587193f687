from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mailpanel.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from mailpanel.accounts import signals  # noqa: F401  (connects the receivers)
