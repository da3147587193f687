"""The public privacy policy: the version in force, every version, the diff of any two; and
the "I have read it" of a signed-in user's notice."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from mailpanel.http import AuthedRequest, local_next
from mailpanel.privacy.context import forget
from mailpanel.privacy.markdown import render_markdown
from mailpanel.privacy.models import PolicyVersion
from mailpanel.privacy.policy import (
    acknowledge,
    diff_lines,
    diff_path,
    is_effective,
    previous_version,
    version_or_none,
)


def _version_or_404(version: str) -> PolicyVersion:
    policy = version_or_none(version)
    if policy is None:
        raise Http404("No policy version with that id")
    return policy


@require_safe
def privacy_policy(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    versions = list(PolicyVersion.objects.defer("text").order_by("-published_at"))
    current = PolicyVersion.current()
    upcoming = [v for v in versions if v.published_at > now]
    older = [*versions[1:], None]
    context = {
        "policy": current,
        "rendered": render_markdown(current.text) if current else "",
        # (version, the diff with the one before it)
        "history": [
            (v, diff_path(v.version, before.version) if before else "")
            for v, before in zip(versions, older, strict=True)
        ],
        "upcoming": upcoming[-1] if upcoming else None,  # the next to take effect
        "now": now,
    }
    return render(request, "pages/privacy.html", context)


@require_safe
def policy_version(request: HttpRequest, version: str) -> HttpResponse:
    policy = _version_or_404(version)
    later = (
        PolicyVersion.objects.filter(published_at__gt=policy.published_at)
        .order_by("published_at")
        .only("version", "published_at")
        .first()
    )
    previous = previous_version(policy)
    context = {
        "policy": policy,
        "rendered": render_markdown(policy.text),
        "effective": is_effective(policy),
        "superseded_by": later if later and is_effective(later) else None,
        "previous": previous,
        "diff_url": diff_path(policy.version, previous.version) if previous else "",
    }
    return render(request, "privacy/policy/version.html", context)


def _choose(request: HttpRequest, problem: str = "") -> HttpResponse:
    """The form to choose two versions; with ``problem``, a 400 that says what was wrong."""
    versions = PolicyVersion.objects.only("version", "published_at").order_by("-published_at")
    context = {"problem": problem, "versions": versions, "choosing": True}
    return render(request, "privacy/policy/diff.html", context, status=400 if problem else 200)


@require_safe
def policy_diff(request: HttpRequest) -> HttpResponse:
    """``?from=<v>&to=<v>``; without ``from``, ``to`` is compared with the version before it."""
    to_id, from_id = request.GET.get("to", ""), request.GET.get("from", "")
    if not to_id:
        return _choose(request, "Choose the version to compare with." if from_id else "")
    new = _version_or_404(to_id)
    old = _version_or_404(from_id) if from_id else previous_version(new)
    if old is None:
        return _choose(request, f"Version {new.version} is the first: choose one to compare.")
    context = {
        "old": old,
        "new": new,
        "lines": diff_lines(old.text, new.text),
        "now": timezone.now(),
        "versions": PolicyVersion.objects.only("version", "published_at").order_by("-published_at"),
    }
    return render(request, "privacy/policy/diff.html", context)


@require_POST
@login_required
def policy_acknowledge(request: AuthedRequest, version: str) -> HttpResponse:
    policy = _version_or_404(version)
    acknowledged = acknowledge(request.user, policy)
    forget(request.session)  # the banner is looked up again
    if acknowledged:
        messages.success(request, f"Thank you: you have read version {policy.version}.")
    return redirect(local_next(request, reverse("privacy_policy_version", args=[policy.version])))
