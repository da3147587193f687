from django.urls import path

from mailpanel.billing import views

urlpatterns = [
    path("", views.billing, name="billing"),
    path("subscribe/", views.subscribe, name="billing_subscribe"),
    path("portal/", views.portal, name="billing_portal"),
    path("stripe/webhook", views.stripe_webhook, name="billing_stripe_webhook"),
]
