"""Credential pages. No page ever renders a stored secret, for the owner or for staff."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from mailpanel.http import AuthedRequest, local_next
from mailpanel.jobs.actions import start_job
from mailpanel.ownership import get_owned_or_404
from mailpanel.vault import actions
from mailpanel.vault.forms import (
    GenerateKeyForm,
    NewCredentialForm,
    RenameForm,
    SecretForm,
    kind_or_none,
)
from mailpanel.vault.kinds import KINDS
from mailpanel.vault.models import Credential


@login_required
def credential_list(request: AuthedRequest) -> HttpResponse:
    credentials = Credential.objects.filter(owner=request.user).defer("secret")
    return render(request, "vault/list.html", {"credentials": credentials, "kinds": KINDS})


@login_required
@sensitive_post_parameters()
@sensitive_variables()
def credential_add(request: AuthedRequest) -> HttpResponse:
    kind = kind_or_none(request.GET.get("kind") or request.POST.get("kind"))
    if kind is None:
        return render(request, "vault/choose_kind.html", {"kinds": KINDS.values()})
    form = NewCredentialForm(request.user, kind, request.POST or None)
    if request.method == "POST" and form.is_valid():
        credential = actions.create_credential(
            request.user, kind.value, form.cleaned_data["label"], form.payload
        )
        messages.success(request, f"“{credential.label}” is stored encrypted.")
        back = local_next(request, "")
        if back:  # the page that sent the user, with the new credential chosen
            return redirect(f"{back}{'&' if '?' in back else '?'}credential={credential.pk}")
        return redirect("credential_detail", credential_id=credential.pk)
    context = {"form": form, "kind": kind, "next": local_next(request, "")}
    return render(request, "vault/add.html", context)


@login_required
def credential_generate_ssh(request: AuthedRequest) -> HttpResponse:
    form = GenerateKeyForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        credential = actions.generate_ssh_key(request.user, form.cleaned_data["label"])
        messages.success(request, "A new Ed25519 key was generated. Copy its public key below.")
        return redirect("credential_detail", credential_id=credential.pk)
    return render(request, "vault/generate.html", {"form": form})


@login_required
def credential_detail(request: AuthedRequest, credential_id: UUID) -> HttpResponse:
    credential = get_owned_or_404(
        Credential.objects.defer("secret"), request.user, pk=credential_id
    )
    context = {
        "credential": credential,
        "rename_form": RenameForm(credential, initial={"label": credential.label}),
        "usages": actions.credential_usages(credential),
    }
    return render(request, "vault/detail.html", context)


@login_required
@require_POST
def credential_rename(request: AuthedRequest, credential_id: UUID) -> HttpResponse:
    credential = get_owned_or_404(Credential, request.user, pk=credential_id)
    form = RenameForm(credential, request.POST)
    if form.is_valid():
        actions.rename_credential(credential, form.cleaned_data["label"])
        messages.success(request, "Renamed.")
    else:
        messages.error(request, " ".join(str(e) for e in form.errors.get("label", ["Bad name."])))
    return redirect("credential_detail", credential_id=credential.pk)


@login_required
@sensitive_post_parameters()
@sensitive_variables()
def credential_replace(request: AuthedRequest, credential_id: UUID) -> HttpResponse:
    credential = get_owned_or_404(Credential, request.user, pk=credential_id)
    form = SecretForm(KINDS[credential.kind], request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.replace_secret(credential, form.payload)
        messages.success(request, "The secret was replaced; the old one is gone.")
        return redirect("credential_detail", credential_id=credential.pk)
    return render(request, "vault/replace.html", {"form": form, "credential": credential})


@login_required
def credential_delete(request: AuthedRequest, credential_id: UUID) -> HttpResponse:
    credential = get_owned_or_404(Credential, request.user, pk=credential_id)
    usages = actions.credential_usages(credential)
    if request.method == "POST" and not usages:
        actions.delete_credential(credential)
        messages.success(request, f"“{credential.label}” was deleted and its secret destroyed.")
        return redirect("credential_list")
    status = 409 if request.method == "POST" else 200
    context = {"credential": credential, "usages": usages}
    return render(request, "vault/delete.html", context, status=status)


@login_required
@require_POST
def credential_test(request: AuthedRequest, credential_id: UUID) -> HttpResponse:
    credential = get_owned_or_404(Credential, request.user, pk=credential_id)
    if credential.kind not in TESTABLE_KINDS:
        raise Http404("This kind of credential is tested when a server uses it.")
    job = start_job(
        request.user, "credential.test", credential.label, {"credential_id": str(credential.pk)}
    )
    return redirect("job_detail", job_id=job.pk)


TESTABLE_KINDS = {"ssh_key", "cloudflare", "namecom", "openprovider", "nvidia"}
