from django.db import migrations, models
from django.utils import timezone


def verify_existing(apps, schema_editor):
    """Domains set up before the panel asked for proof of control are marked verified (by
    "upgrade"), so an upgrade does not stop mail that works: the next converge keeps signing.

    One exception: a name held by several tenants is marked for the tenant who added it
    first only. A later tenant adding an earlier one's domain is the very hole this release
    closes, and at most one tenant may hold a verified name (constraint below). The later
    rows stay unverified: not signed for, not published, until their owner proves control.
    """
    SendingDomain = apps.get_model("domains", "SendingDomain")
    now = timezone.now()
    seen = set()
    for pk, name in SendingDomain.objects.order_by("name", "created_at", "pk").values_list(
        "pk", "name"
    ):
        if name in seen:
            continue
        seen.add(name)
        SendingDomain.objects.filter(pk=pk).update(verified_at=now, verified_by="upgrade")


class Migration(migrations.Migration):

    dependencies = [
        ('domains', '0004_signing_since'),
    ]

    operations = [
        migrations.AddField(
            model_name='sendingdomain',
            name='verified_at',
            field=models.DateTimeField(blank=True, help_text='When the owner proved control of the domain', null=True),
        ),
        migrations.AddField(
            model_name='sendingdomain',
            name='verified_by',
            field=models.CharField(blank=True, choices=[('dns_account', 'its zone is in one of your DNS accounts'), ('txt', 'a TXT record with your token'), ('upgrade', 'it was set up before the panel asked for proof')], max_length=16),
        ),
        migrations.RunPython(verify_existing, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='sendingdomain',
            constraint=models.UniqueConstraint(condition=models.Q(('verified_at__isnull', False)), fields=('name',), name='domain_verified_once'),
        ),
    ]
