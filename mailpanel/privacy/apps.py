from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "mailpanel.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        # Registers the export job kind and the huey tasks (deletion, nightly purge).
        from mailpanel.privacy import exports, tasks  # noqa: F401
