"""The 2027-01-04 version gains billing (the payment processor, what it receives, invoices
kept) before anyone was told of it: a database that published it earlier takes the new
text, unless a notice of it already went out (then the text stays as it was sent)."""

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


def retext(apps, schema_editor):
    PolicyVersion = apps.get_model("privacy", "PolicyVersion")
    PolicyNotice = apps.get_model("privacy", "PolicyNotice")
    version = PolicyVersion.objects.filter(version=VERSION).first()
    if version is None or PolicyNotice.objects.filter(policy=version).exists():
        return
    text = (Path(__file__).resolve().parent.parent / "policies" / f"{VERSION}.md").read_text()
    PolicyVersion.objects.filter(pk=version.pk).update(text=text, summary=SUMMARY)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0007_notice_bounces")]
    operations = [migrations.RunPython(retext, migrations.RunPython.noop)]
