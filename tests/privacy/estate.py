"""A user holding one row of every registry category, each value marked with a tag.

The tag lets a test find a user's values in an export (and prove another user's are not
there); ``secret`` is sealed into every place a secret lives, so a test can prove that no
secret leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from mailpanel.accounts import mfa_secrets
from mailpanel.accounts.models import User
from mailpanel.activity.actions import record_event
from mailpanel.assistant.models import AssistantProfile, AssistantUsage, Draft
from mailpanel.billing.models import BillingAccount, InvoiceRecord, WebhookEvent
from mailpanel.dns.models import DnsAccount, DnsPlan, DomainZone
from mailpanel.domains.models import DkimKey, SendingDomain, SmtpUser
from mailpanel.inbound.models import InboundMessage
from mailpanel.jobs.models import Job, JobLogLine
from mailpanel.privacy.models import (
    BreachNotice,
    DataExport,
    DataRequest,
    Incident,
    MinorReport,
    PolicyAcceptance,
    PolicyNotice,
    PolicyVersion,
    RequestEvent,
)
from mailpanel.servers.models import FleetRun, FleetRunItem, Server
from mailpanel.support.models import SupportMessage, Thread
from mailpanel.vault.models import Credential

DKIM_PEM = "-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"


@dataclass
class Estate:
    user: User
    tag: str
    secret: str
    server: Server
    domain: SendingDomain
    credential: Credential
    dkim: DkimKey
    job: Job


def build_estate(user: User, tag: str, secret: str) -> Estate:
    """``tag`` is a lowercase word (it goes into domain names); ``secret`` any canary."""
    credential = _sealed(Credential(owner=user, kind="ssh_key", label=f"key-{tag}"), secret)
    credential.metadata = {"fingerprint": f"SHA256:{tag}", "generated": True}
    credential.save()
    server = Server.objects.create(
        owner=user, credential=credential, name=f"mx-{tag}", host="192.0.2.10"
    )
    domain = SendingDomain.objects.create(owner=user, server=server, name=f"{tag}.example")
    dkim = DkimKey(owner=user, domain=domain, selector=f"s{tag}", bits=2048, public_key="MII")
    dkim.seal({"private_key": DKIM_PEM.format(secret=secret)})
    dkim.save()
    SmtpUser.objects.create(owner=user, domain=domain, local_part=f"app-{tag}", password_hash="$x")
    job = Job.objects.create(owner=user, kind="selftest", target=f"target-{tag}", state="succeeded")
    JobLogLine.objects.create(job=job, seq=1, text=f"log line of {tag}")
    _accounts(user, tag, secret)
    _servers_dns(user, tag, server, domain, credential, job)
    _assistant(user, tag, credential)
    _billing(user, tag)
    record_event(user, "server.added", server, actor=user, message=f"added by {tag}")
    record_event(user, "account.signed_in", None, message=f"signed in {tag}")
    DataExport.objects.create(owner=user, state="failed")
    return Estate(user, tag, secret, server, domain, credential, dkim, job)


def _sealed(credential: Credential, secret: str) -> Credential:
    credential.seal({"private_key": secret, "passphrase": ""})
    return credential


def _accounts(user: User, tag: str, secret: str) -> None:
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    EmailConfirmation.objects.create(email_address=address, key=f"confirmkey{tag}")
    Authenticator.objects.create(
        user=user, type="totp", data={"secret": mfa_secrets.seal(f"TOTP{secret}")}
    )
    session = SessionStore()
    session.create()
    UserSession.objects.create(
        user=user, ip="198.51.100.7", session_key=session.session_key, user_agent=f"UA-{tag}"
    )
    # A transactional test flushes the policy the migration published: make one then.
    policy = PolicyVersion.current() or PolicyVersion.objects.create(
        version="test", published_at=timezone.now(), text="policy"
    )
    PolicyAcceptance.objects.get_or_create(user=user, policy=policy)
    PolicyNotice.objects.create(user=user, policy=policy, state="sent")
    _requests(user, tag)
    _support(user, tag)
    group, _ = Group.objects.get_or_create(name=f"group-{tag}")
    user.groups.add(group)
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(user.pk),
        object_repr=f"staff note {tag}",
        action_flag=ADDITION,
    )


def _requests(user: User, tag: str) -> None:
    now = timezone.now()
    request = DataRequest.objects.create(
        reference=f"DR-{tag[:6].upper()}",
        user=user,
        email=user.email,
        kind="access",
        details=f"what do you hold {tag}",
        state="open",
        due_at=now + timedelta(days=30),
    )
    RequestEvent.objects.create(request=request, action="filed", note=f"filed by {tag}")
    MinorReport.objects.create(reported_email=user.email, user=user, details=f"report {tag}")
    incident = Incident.objects.create(
        title=f"incident {tag}",
        aware_at=now,
        what_happened="x",
        notice_subject="s",
        notice_text="t",
    )
    BreachNotice.objects.create(incident=incident, user=user, email=user.email, state="sent")


def _support(user: User, tag: str) -> None:
    mail = InboundMessage.objects.create(
        message_id=f"<support-{tag}@example.test>",
        rcpt_to=["support@mailpanel.localhost"],
        from_address=user.email,
        subject=f"help {tag}",
        text_body=f"question of {tag}",
    )
    thread = Thread.objects.create(owner=user, email=user.email, subject=f"help {tag}")
    SupportMessage.objects.create(
        thread=thread,
        direction="in",
        from_address=user.email,
        body=f"question of {tag}",
        inbound=mail,
    )


def _servers_dns(
    user: User, tag: str, server: Server, domain: SendingDomain, cred: Credential, job: Job
) -> None:
    run = FleetRun.objects.create(owner=user, action="converge", job=job)
    FleetRunItem.objects.create(run=run, server=server, state="succeeded", summary=f"ok {tag}")
    account = DnsAccount.objects.create(
        owner=user, credential=cred, label=f"dns-{tag}", provider="cloudflare"
    )
    DomainZone.objects.create(
        domain=domain,
        owner=user,
        account=account,
        zone_id=f"zone-{tag}",
        zone_name=domain.name,
        published={"TXT": [f"v=spf1 {tag}"]},
    )
    DnsPlan.objects.create(owner=user, domain=domain, zone_name=domain.name, content={"t": tag})


def _assistant(user: User, tag: str, credential: Credential) -> None:
    AssistantProfile.objects.create(
        owner=user, credential=credential, model_id=f"model-{tag}", checked_at=timezone.now()
    )
    Draft.objects.create(owner=user, kind="body", state="done", subject=f"subject {tag}")
    AssistantUsage.objects.create(owner=user, requests=3)


def _billing(user: User, tag: str) -> None:
    account = BillingAccount.objects.create(
        owner=user,
        name=f"Billing {tag}",
        email=user.email,
        country="DE",
        customer_id=f"cus_{tag}",
        subscription_id=f"sub_{tag}",
        plan="pro",
        status="active",
        card_brand="visa",
        card_last4="4242",
    )
    WebhookEvent.objects.create(event_id=f"evt_{tag}", type="invoice.paid", account=account)
    InvoiceRecord.objects.create(
        invoice_id=f"in_{tag}",
        owner=user,
        amount_paid=900,
        currency="eur",
        issued_at=timezone.now(),
        name=account.name,
    )
