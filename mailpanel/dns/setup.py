"""The guided setup, from a bare server to verified mail: where a user stands, from the DB.

Nothing is stored about the flow itself: each step is done when the thing it makes exists
(a pinned key, a converge, a linked zone, an applied plan...), so the flow resumes wherever
it stopped, also after the user did a step on another page.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from mailpanel.dns.actions import latest_verify
from mailpanel.dns.models import DnsPlan, DomainZone, PlanState
from mailpanel.domains.models import SendingDomain
from mailpanel.jobs.models import Job, JobState
from mailpanel.servers.models import HostKeyState, Server

TITLES = {
    "server": "Add the server",
    "host_key": "Confirm its host key",
    "provision": "Provision the mail stack",
    "domain": "Add the sending domain",
    "zone": "Pick the DNS zone",
    "plan": "Review the DNS plan",
    "apply": "Apply it at the provider",
    "verify": "Verify in DNS",
    "test": "Send a test message",
}


@dataclass
class Step:
    key: str
    done: bool
    job: Job | None = None
    detail: str = ""

    @property
    def title(self) -> str:
        return TITLES[self.key]


@dataclass
class SetupState:
    server: Server
    domain: SendingDomain | None
    plan: DnsPlan | None
    steps: list[Step]

    @property
    def current(self) -> Step | None:
        return next((s for s in self.steps if not s.done), None)


def latest_job(server: Server, kind: str, *only: Q) -> Job | None:
    return Job.objects.filter(
        *only, owner_id=server.owner_id, kind=kind, params__server_id=str(server.pk)
    ).first()


def latest_converge(server: Server, purpose: str, **params: str) -> Job | None:
    """The last converge started for `purpose` (a converge for a domain is not the
    provisioning). A converge from before purposes were recorded counts as provisioning."""
    wanted = Q(params__purpose=purpose, **{f"params__{k}": v for k, v in params.items()})
    if purpose == "provision":
        wanted |= ~Q(params__has_key="purpose")
    return latest_job(server, "server.converge", wanted)


def state_of(server: Server, domain: SendingDomain | None = None) -> SetupState:
    domain = domain or server.domains.order_by("created_at").first()
    link = DomainZone.objects.filter(domain=domain).first() if domain else None
    plan = DnsPlan.objects.filter(domain=domain).first() if domain else None
    steps = [
        Step("server", True, detail=server.address),
        Step(
            "host_key",
            server.host_key_state == HostKeyState.CONFIRMED,
            latest_job(server, "server.facts"),
            server.host_key_fingerprint,
        ),
        Step("provision", server.converged_at is not None, latest_converge(server, "provision")),
        _domain_step(server, domain),
        Step("zone", link is not None, detail=link.zone_display if link else ""),
        _plan_step(plan),
        Step(
            "apply",
            plan is not None and plan.state == PlanState.APPLIED,
            plan.apply_job if plan else None,
        ),
        _verify_step(plan),
        _test_step(server, domain),
    ]
    return SetupState(server, domain, plan, steps)


def _domain_step(server: Server, domain: SendingDomain | None) -> Step:
    """Done once the server signs for the domain (the converge that adds its key succeeded),
    which waits for the owner to prove control of it."""
    if domain is None:
        return Step("domain", False)
    if not domain.is_verified:
        return Step("domain", False, detail=f"{domain.display_name}: prove you control it first")
    signing = domain.signing_since is not None
    detail = domain.display_name + ("" if signing else ": waiting for the server to sign for it")
    return Step("domain", signing, latest_converge(server, "domain", domain=domain.name), detail)


def _plan_step(plan: DnsPlan | None) -> Step:
    reviewed = (PlanState.PLANNED, PlanState.APPLYING, PlanState.APPLIED, PlanState.FAILED)
    done = plan is not None and plan.state in reviewed and plan.apply_job_id is not None
    return Step("plan", done, plan.plan_job if plan else None)


def _verify_step(plan: DnsPlan | None) -> Step:
    results = plan.result if plan and plan.state == PlanState.APPLIED else []
    visible = sum(1 for r in results if r.get("visible"))
    done = bool(results) and visible == len(results)
    job = latest_verify(plan) if plan else None
    return Step(
        "verify",
        done,
        job or (plan.apply_job if plan else None),
        f"{visible}/{len(results)} records answered" if results else "",
    )


def _test_step(server: Server, domain: SendingDomain | None) -> Step:
    job = latest_job(server, "server.testmail")
    sent = job is not None and job.state == JobState.SUCCEEDED and domain is not None
    return Step("test", sent, job, str(job.params.get("recipient", "")) if job else "")


def test_sender(domain: SendingDomain) -> str:
    return f"postmaster@{domain.name}"
