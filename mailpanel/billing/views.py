"""The Billing page, checkout and the portal (the processor's hosted pages), and the
processor's webhook."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mailpanel.accounts.models import User
from mailpanel.billing import checkout, webhooks
from mailpanel.billing.client import ProcessorError
from mailpanel.billing.forms import SubscribeForm
from mailpanel.billing.models import BillingAccount
from mailpanel.billing.plans import allowance_of, billing_enabled, grace_ends, plans
from mailpanel.billing.sync import LIVE
from mailpanel.http import AuthedRequest

MAX_WEBHOOK_BYTES = 512 * 1024
STRIPE_HOSTED_ORIGINS = ("https://checkout.stripe.com", "https://billing.stripe.com")


def _initial(user: User, account: BillingAccount | None) -> dict[str, str]:
    if account is not None:
        return {k: getattr(account, k) for k in checkout.CONTACT_FIELDS}
    return {"name": user.get_full_name(), "email": user.email}


@login_required
def billing(request: AuthedRequest) -> HttpResponse:
    account = BillingAccount.objects.filter(owner=request.user).first()
    form = SubscribeForm(initial={"plan": "pro", **_initial(request.user, account)})
    return _page(request, account, form)


def _page(
    request: AuthedRequest, account: BillingAccount | None, form: SubscribeForm, status: int = 200
) -> HttpResponse:
    invoices, invoices_error = [], ""
    if billing_enabled() and account is not None and account.customer_id:
        try:
            invoices = checkout.invoices(request.user)
        except ProcessorError as exc:
            invoices_error = str(exc)
    context = {
        "enabled": billing_enabled(),
        "account": account,
        "allowance": allowance_of(account),
        "grace_ends": grace_ends(account) if account else None,
        "plans": list(plans().values()),
        "form": form,
        "invoices": invoices,
        "invoices_error": invoices_error,
        "checkout": request.GET.get("checkout", ""),
        "can_subscribe": account is None or account.status not in LIVE,
    }
    response = render(request, "billing/billing.html", context, status=status)
    # The page's two forms end on the processor's hosted pages (a redirect after POST is
    # held to the form's form-action): its origins may be form targets here, nothing else.
    response._csp_update = {"form-action": hosted_origins()}  # type: ignore[attr-defined]
    return response


def hosted_origins() -> list[str]:
    """Where Checkout and the Billing Portal live: Stripe's own origins, or the origin of
    the configured API when it is not Stripe's (the lab's processor serves both)."""
    parts = urlsplit(settings.STRIPE_API_BASE)
    if parts.hostname == "api.stripe.com":
        return list(STRIPE_HOSTED_ORIGINS)
    return [f"{parts.scheme}://{parts.netloc}"]


@login_required
@require_POST
def subscribe(request: AuthedRequest) -> HttpResponse:
    account = BillingAccount.objects.filter(owner=request.user).first()
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        return _page(request, account, form, status=400)
    contact = {k: form.cleaned_data.get(k, "") for k in checkout.CONTACT_FIELDS}
    try:
        url = checkout.start_checkout(request.user, form.cleaned_data["plan"], contact)
    except (checkout.CheckoutRefused, ProcessorError) as exc:
        messages.error(request, str(exc))
        return _page(request, account, form, status=409)
    return redirect(url)


@login_required
@require_POST
def portal(request: AuthedRequest) -> HttpResponse:
    try:
        return redirect(checkout.portal_url(request.user))
    except (checkout.CheckoutRefused, ProcessorError) as exc:
        messages.error(request, str(exc))
        return redirect("billing")


@csrf_exempt  # the processor signs it instead (checked before anything is read)
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return HttpResponse("too large", status=413, content_type="text/plain")
    outcome = webhooks.receive(request.body, request.headers.get("Stripe-Signature", ""))
    return HttpResponse(outcome.text, status=outcome.status, content_type="text/plain")
