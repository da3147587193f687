from datetime import UTC, datetime
from pathlib import Path

from django.db import migrations

VERSION = "2027-01-04"
SUMMARY = (
    "Says what the panel does today: one export a day (keys only in an encrypted copy), "
    "pausing processing, deletion that destroys your secrets at once, the retention period "
    "of each kind of data, data requests answered within 30 days, reports of a minor's "
    "account, support conversations, subscriptions paid through Stripe (which receives your "
    "billing contact only; invoices kept as tax law requires), and consent to international "
    "transfers (NVIDIA and Stripe in the USA)."
)


def publish(apps, schema_editor):
    PolicyVersion = apps.get_model("privacy", "PolicyVersion")
    text = (Path(__file__).resolve().parent.parent / "policies" / f"{VERSION}.md").read_text()
    PolicyVersion.objects.get_or_create(
        version=VERSION,
        defaults={
            # A material change takes effect after a notice period: staff send the notice
            # from the staff pages (Privacy → Policy versions → Send the notice).
            "published_at": datetime(2027, 1, 4, tzinfo=UTC),
            "summary": SUMMARY,
            "text": text,
            "material": True,
        },
    )


def unpublish(apps, schema_editor):
    apps.get_model("privacy", "PolicyVersion").objects.filter(version=VERSION).delete()


class Migration(migrations.Migration):
    dependencies = [("privacy", "0005_transfer_consent")]
    operations = [migrations.RunPython(publish, unpublish)]
