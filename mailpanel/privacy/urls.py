from django.urls import path

from mailpanel.privacy import request_views, views

urlpatterns = [
    path("", views.your_data, name="privacy_your_data"),
    path("export/", views.export_request, name="privacy_export_request"),
    path("exports/<uuid:export_id>/", views.export_detail, name="privacy_export"),
    path("exports/<uuid:export_id>/download", views.export_download, name="privacy_download"),
    path(
        "exports/<uuid:export_id>/download-with-keys",
        views.export_download_with_keys,
        name="privacy_download_keys",
    ),
    path("pause/", views.pause, name="privacy_pause"),
    path("resume/", views.resume, name="privacy_resume"),
    path("delete/", views.delete_account, name="privacy_delete"),
    path("deleted/", views.deleted, name="privacy_deleted"),
    path("requests/new/", request_views.request_new, name="privacy_request_new"),
    path("requests/<uuid:request_id>/", request_views.request_detail, name="privacy_request"),
    path(
        "requests/confirm/<str:token>/",
        request_views.request_confirm,
        name="privacy_request_confirm",
    ),
]
