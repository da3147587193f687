"""The vault's one door: a secret opens only for its owner's own job or request, audited."""

from __future__ import annotations

import pytest

from mailpanel.accounts.models import User
from mailpanel.activity.models import ActivityEvent
from mailpanel.jobs.context import JobContext
from mailpanel.jobs.models import Job
from mailpanel.vault.access import CredentialAccessDenied, open_for_job, open_for_owner
from mailpanel.vault.actions import create_credential
from mailpanel.vault.models import Credential

TOKEN = "cf" + "C" * 38


def credential_of(owner: User) -> Credential:
    return create_credential(owner, "cloudflare", "cf", {"token": TOKEN})


def job_of(owner: User) -> Job:
    return Job.objects.create(owner=owner, kind="dns.apply", target="example.test")


def test_a_secret_opens_for_its_owners_job_and_the_opening_is_audited(user: User) -> None:
    credential = credential_of(user)
    job = job_of(user)
    ctx = JobContext(job)

    assert open_for_job(credential, ctx) == {"token": TOKEN}

    event = ActivityEvent.objects.get(owner=user, action="secret.used")
    assert event.job_id == job.pk and event.object_id == str(credential.pk)
    assert TOKEN not in event.message and str(job.pk) in event.message
    assert TOKEN not in ctx.redact(f"token={TOKEN}")  # the job's log cannot carry it
    assert Credential.objects.get(pk=credential.pk).last_used_at is not None


@pytest.mark.parametrize("intruder", ["other_user", "third_user"])
def test_a_secret_does_not_open_for_another_users_job(
    user: User, intruder: str, request: pytest.FixtureRequest
) -> None:
    credential = credential_of(user)
    ctx = JobContext(job_of(request.getfixturevalue(intruder)))

    with pytest.raises(CredentialAccessDenied):
        open_for_job(credential, ctx)
    assert not ActivityEvent.objects.filter(action="secret.used").exists()
    assert Credential.objects.get(pk=credential.pk).last_used_at is None


def test_a_credential_opens_for_its_owners_request_and_no_one_elses(
    user: User, other_user: User, third_user: User
) -> None:
    credential = credential_of(user)

    for stranger in (other_user, third_user, None):
        with pytest.raises(CredentialAccessDenied):
            open_for_owner(credential, stranger, "an assistant answer")
    assert not ActivityEvent.objects.filter(action="credential.used").exists()

    assert open_for_owner(credential, user, "an assistant answer") == {"token": TOKEN}
    event = ActivityEvent.objects.get(owner=user, action="credential.used")
    assert event.actor_id == user.pk and TOKEN not in event.message
    assert "an assistant answer" in event.message
