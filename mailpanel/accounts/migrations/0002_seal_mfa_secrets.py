"""Seal the two-factor secrets stored in the clear before the vault took them over."""

from django.db import migrations

from mailpanel.accounts.mfa_secrets import rewrite_all, seal_if_clear, unseal


def seal_secrets(apps, schema_editor):
    Authenticator = apps.get_model("mfa", "Authenticator")
    rewrite_all(Authenticator.objects.order_by("pk"), seal_if_clear)


def open_secrets(apps, schema_editor):
    Authenticator = apps.get_model("mfa", "Authenticator")
    rewrite_all(Authenticator.objects.order_by("pk"), unseal)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(seal_secrets, open_secrets)]
