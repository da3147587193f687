from django.urls import path

from mailpanel.dns import setup_views, views

urlpatterns = [
    path("", views.dns_index, name="dns"),
    path("accounts/add/", views.dns_account_add, name="dns_account_add"),
    path("accounts/<uuid:account_id>/", views.dns_account_detail, name="dns_account_detail"),
    path("accounts/<uuid:account_id>/test/", views.dns_account_test, name="dns_account_test"),
    path("accounts/<uuid:account_id>/delete/", views.dns_account_delete, name="dns_account_delete"),
    path("domains/<uuid:domain_id>/", views.dns_domain, name="dns_domain"),
    path("domains/<uuid:domain_id>/link/", views.dns_domain_link, name="dns_domain_link"),
    path("domains/<uuid:domain_id>/plan/", views.dns_plan_start, name="dns_plan_start"),
    path("domains/<uuid:domain_id>/rotate-dkim/", views.dns_rotate, name="dns_rotate"),
    path("plans/<uuid:plan_id>/", views.dns_plan, name="dns_plan"),
    path("plans/<uuid:plan_id>/apply/", views.dns_plan_apply, name="dns_plan_apply"),
    path("plans/<uuid:plan_id>/verify/", views.dns_plan_verify, name="dns_plan_verify"),
    path("jobs/<uuid:job_id>/watch/", views.dns_job_watch, name="dns_job_watch"),
    path("setup/", setup_views.dns_setup, name="dns_setup"),
    path("setup/<uuid:server_id>/", setup_views.dns_setup_server, name="dns_setup_server"),
]
