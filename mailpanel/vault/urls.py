from django.urls import path

from mailpanel.vault import views

urlpatterns = [
    path("", views.credential_list, name="credential_list"),
    path("add/", views.credential_add, name="credential_add"),
    path("generate-ssh-key/", views.credential_generate_ssh, name="credential_generate_ssh"),
    path("<uuid:credential_id>/", views.credential_detail, name="credential_detail"),
    path("<uuid:credential_id>/rename/", views.credential_rename, name="credential_rename"),
    path("<uuid:credential_id>/replace/", views.credential_replace, name="credential_replace"),
    path("<uuid:credential_id>/delete/", views.credential_delete, name="credential_delete"),
    path("<uuid:credential_id>/test/", views.credential_test, name="credential_test"),
]
