from datetime import UTC, datetime
from pathlib import Path

from django.db import migrations

VERSION = "2026-11-01"


def publish(apps, schema_editor):
    PolicyVersion = apps.get_model("privacy", "PolicyVersion")
    text = (Path(__file__).resolve().parent.parent / "policies" / f"{VERSION}.txt").read_text()
    PolicyVersion.objects.get_or_create(
        version=VERSION,
        defaults={
            "published_at": datetime(2026, 11, 1, tzinfo=UTC),
            "summary": "First published version.",
            "text": text,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]
    operations = [migrations.RunPython(publish, migrations.RunPython.noop)]
