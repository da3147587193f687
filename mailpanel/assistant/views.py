"""Assistant pages. Thin: parse input, check the owner, call one action.

Another user's draft is a 404 on every route (``get_owned_or_404``).
"""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from mailpanel.accounts.models import User
from mailpanel.assistant import actions, export, streaming
from mailpanel.assistant.failures import LlmError
from mailpanel.assistant.forms import (
    BriefForm,
    CheckForm,
    RewriteForm,
    SearchForm,
    SettingsForm,
    StopForm,
)
from mailpanel.assistant.lint import lint_line, lint_subject
from mailpanel.assistant.models import Draft, DraftKind
from mailpanel.assistant.parse import variants
from mailpanel.assistant.sanitize import clean_html
from mailpanel.http import AuthedRequest
from mailpanel.ownership import get_owned_or_404

DRAFTS_PER_PAGE = 25
# The preview is a document of its own: no script, no network, no same-origin powers.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox"
)
DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@login_required
def home(request: AuthedRequest) -> HttpResponse:
    profile = actions.profile_of(request.user)
    form = BriefForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if profile is None:
            messages.error(request, "Choose your NVIDIA key first.")
            return redirect("assistant_settings")
        draft = actions.start_draft(request.user, form.cleaned_data["kind"], form.inputs())
        return redirect("assistant_draft", draft_id=draft.pk)
    context = {
        "form": form,
        "profile": profile,
        "usage": actions.usage_of(request.user),
        "recent": actions.search_drafts(request.user, "")[:5],
    }
    return render(request, "assistant/home.html", context)


@login_required
@sensitive_variables()
def settings_page(request: AuthedRequest) -> HttpResponse:
    profile = actions.profile_of(request.user)
    initial = {"credential": profile.credential_id} if profile else {}
    form = SettingsForm(request.user, [], request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        picked = form.cleaned_data["model_id"]
        try:
            profile = actions.check_and_save_settings(
                request.user, form.cleaned_data["credential"], picked
            )
        except actions.ModelChoiceNeeded as need:
            form = SettingsForm(request.user, need.offered, request.POST)
            form.is_valid()
            form.add_error(
                "model_id",
                f"NVIDIA does not offer “{need.wanted}” to this key any more: pick one of the "
                "DeepSeek models it offers.",
            )
        except LlmError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Your key works; the assistant uses {profile.model_id}.")
            return redirect("assistant")
    context = {
        "form": form,
        "profile": profile,
        "has_keys": actions.nvidia_credentials(request.user).exists(),
    }
    return render(request, "assistant/settings.html", context)


@login_required
def rewrite(request: AuthedRequest) -> HttpResponse:
    initial = {}
    if source := request.GET.get("draft"):
        initial["text"] = get_owned_or_404(Draft, request.user, pk=source).text
    form = RewriteForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        if actions.profile_of(request.user) is None:
            messages.error(request, "Choose your NVIDIA key first.")
            return redirect("assistant_settings")
        draft = actions.start_draft(request.user, DraftKind.REWRITE, form.inputs())
        return redirect("assistant_draft", draft_id=draft.pk)
    return render(request, "assistant/rewrite.html", {"form": form})


@login_required
def check(request: AuthedRequest) -> HttpResponse:
    form = CheckForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        draft = actions.save_pasted(
            request.user, data["subject"], data["preheader"], data["text"], data["html"]
        )
        messages.success(request, "Checked, and saved to your drafts.")
        return redirect("assistant_draft", draft_id=draft.pk)
    return render(request, "assistant/check.html", {"form": form})


@login_required
def draft_list(request: AuthedRequest) -> HttpResponse:
    search = SearchForm(request.GET)
    query = search.cleaned_data["q"].strip() if search.is_valid() else ""
    drafts = actions.search_drafts(request.user, query)
    page = Paginator(drafts, DRAFTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request, "assistant/drafts.html", {"page": page, "search": search, "query": query}
    )


@login_required
def draft_detail(request: AuthedRequest, draft_id: UUID) -> HttpResponse:
    draft = actions.settle_if_stale(get_owned_or_404(Draft, request.user, pk=draft_id))
    return _render_draft(request, draft, CheckForm(initial=_parts(draft)))


def _parts(draft: Draft) -> dict[str, str]:
    return {k: getattr(draft, k) for k in ("subject", "preheader", "text", "html")}


def _render_draft(
    request: AuthedRequest, draft: Draft, form: CheckForm, status: int = 200
) -> HttpResponse:
    lines = variants(draft.text) if draft.kind in (DraftKind.SUBJECTS, DraftKind.PREHEADERS) else []
    score = lint_subject if draft.kind == DraftKind.SUBJECTS else lint_line
    context = {
        "draft": draft,
        "form": form,
        "variants": [(line, score(line).score) for line in lines],
        "sender": export.sender_name(draft),
        "brief": _brief_rows(draft),
    }
    return render(request, "assistant/draft.html", context, status=status)


def _brief_rows(draft: Draft) -> list[tuple[str, str]]:
    if draft.kind == DraftKind.PASTED or not isinstance(draft.inputs, dict):
        return []
    fields = {**BriefForm.base_fields, **RewriteForm.base_fields}
    return [(str(_label(k, fields.get(k))), str(v)) for k, v in draft.inputs.items()]


def _label(name: str, field: object) -> object:
    return getattr(field, "label", None) or name.replace("_", " ").capitalize()


@login_required
async def draft_stream(request: AuthedRequest, draft_id: UUID) -> StreamingHttpResponse:
    user = await request.auser()
    if not isinstance(user, User):  # login_required let it through, so this never happens
        raise Http404("Not found")
    # One trip to the database thread: owner check, claim and key, before the first byte.
    began = await sync_to_async(actions.begin_stream)(draft_id, user)
    response = StreamingHttpResponse(
        streaming.draft_events(began), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@login_required
@require_POST
def draft_stop(request: AuthedRequest, draft_id: UUID) -> HttpResponse:
    draft = get_owned_or_404(Draft, request.user, pk=draft_id)
    form = StopForm(request.POST)
    text = form.cleaned_data["text"] if form.is_valid() else ""
    actions.stop_stream(draft, text)
    return redirect("assistant_draft", draft_id=draft.pk)


@login_required
@require_POST
def draft_edit(request: AuthedRequest, draft_id: UUID) -> HttpResponse:
    draft = get_owned_or_404(Draft, request.user, pk=draft_id)
    form = CheckForm(request.POST)
    if not form.is_valid():
        return _render_draft(request, draft, form, status=400)
    data = form.cleaned_data
    actions.edit_draft(draft, data["subject"], data["preheader"], data["text"], data["html"])
    messages.success(request, "Saved and checked again.")
    return redirect("assistant_draft", draft_id=draft.pk)


@login_required
@require_POST
def draft_choose(request: AuthedRequest, draft_id: UUID) -> HttpResponse:
    draft = get_owned_or_404(Draft, request.user, pk=draft_id)
    chosen = request.POST.get("line", "")
    if chosen not in variants(draft.text):
        raise Http404("Not one of this draft's lines")
    actions.choose_variant(draft, chosen)
    messages.success(request, "Chosen.")
    return redirect("assistant_draft", draft_id=draft.pk)


@login_required
@require_POST
def draft_retry(request: AuthedRequest, draft_id: UUID) -> HttpResponse:
    draft = get_owned_or_404(Draft, request.user, pk=draft_id)
    if draft.kind == DraftKind.PASTED:
        raise Http404("Your own text has no brief to ask again")
    fresh = actions.retry_draft(draft)
    return redirect("assistant_draft", draft_id=fresh.pk)


@login_required
def draft_delete(request: AuthedRequest, draft_id: UUID) -> HttpResponse:
    draft = get_owned_or_404(Draft, request.user, pk=draft_id)
    if request.method == "POST":
        actions.delete_draft(draft)
        messages.success(request, "The draft was deleted.")
        return redirect("assistant_drafts")
    return render(request, "assistant/delete.html", {"draft": draft})


@login_required
def draft_preview(request: AuthedRequest, draft_id: UUID) -> HttpResponse:
    draft = get_owned_or_404(Draft, request.user, pk=draft_id)
    body = clean_html(draft.html)
    document = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        "<style>body{font-family:system-ui,sans-serif;margin:1rem;color:#17202a}</style>"
        f"</head><body>{body}</body></html>"
    )
    response = HttpResponse(document)
    # Set here, so the panel-wide CSP and X-Frame-Options middleware leave them alone.
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Cache-Control"] = "no-store"
    return response


EXPORTS = {"txt": "text/plain", "html": "text/html", "eml": "message/rfc822"}


@login_required
def draft_export(request: AuthedRequest, draft_id: UUID, fmt: str) -> HttpResponse:
    draft = get_owned_or_404(Draft, request.user, pk=draft_id)
    if fmt not in EXPORTS:
        raise Http404("Unknown format")
    content: str | bytes
    if fmt == "eml":
        content = export.as_eml(draft)
    elif fmt == "html":
        content = export.as_html_document(draft)
    else:
        content = export.as_text(draft)
    charset = "" if fmt == "eml" else "; charset=utf-8"
    response = HttpResponse(content, content_type=EXPORTS[fmt] + charset)
    response["Content-Disposition"] = f'attachment; filename="{export.filename(draft, fmt)}"'
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["Cache-Control"] = "no-store"
    return response
