from django.contrib import admin

from mailpanel.billing.models import BillingAccount, InvoiceRecord, WebhookEvent


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin[BillingAccount]):
    list_display = ("owner", "plan", "status", "current_period_end", "cancel_at_period_end")
    list_filter = ("plan", "status")
    search_fields = ("owner__email", "email", "customer_id", "subscription_id")
    readonly_fields = [f.name for f in BillingAccount._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin[WebhookEvent]):
    list_display = ("event_id", "type", "received_at", "result")
    list_filter = ("type",)
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]


@admin.register(InvoiceRecord)
class InvoiceRecordAdmin(admin.ModelAdmin[InvoiceRecord]):
    list_display = ("number", "invoice_id", "amount_paid", "currency", "issued_at", "email")
    search_fields = ("number", "invoice_id", "email")
    readonly_fields = [f.name for f in InvoiceRecord._meta.fields]
