from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "mailpanel.vault"
    label = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from mailpanel.vault import jobs  # noqa: F401  (registers the credential check job)
