from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "mailpanel.billing"
    label = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from mailpanel.billing import admin, tasks  # noqa: F401
