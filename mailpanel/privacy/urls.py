from django.urls import path

from mailpanel.privacy import views

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
]
