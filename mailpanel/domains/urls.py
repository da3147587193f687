from django.urls import path

from mailpanel.domains import views

urlpatterns = [
    path("", views.domain_list, name="domains"),
    path("add/", views.domain_add, name="domain_add"),
    path("<uuid:domain_id>/", views.domain_detail, name="domain_detail"),
    path("<uuid:domain_id>/verify/", views.domain_verify, name="domain_verify"),
    path("<uuid:domain_id>/delete/", views.domain_delete, name="domain_delete"),
    path("<uuid:domain_id>/policy/", views.domain_policy, name="domain_policy"),
    path("<uuid:domain_id>/smtp-users/add/", views.smtp_user_add, name="domain_smtp_user_add"),
    path(
        "smtp-users/<uuid:user_id>/delete/", views.smtp_user_delete, name="domain_smtp_user_delete"
    ),
]
