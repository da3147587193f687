from django.urls import path

from mailpanel.assistant import views

# Every name starts with "assistant" so the navigation marks the section.
urlpatterns = [
    path("", views.home, name="assistant"),
    path("settings/", views.settings_page, name="assistant_settings"),
    path("rewrite/", views.rewrite, name="assistant_rewrite"),
    path("check/", views.check, name="assistant_check"),
    path("drafts/", views.draft_list, name="assistant_drafts"),
    path("drafts/<uuid:draft_id>/", views.draft_detail, name="assistant_draft"),
    path("drafts/<uuid:draft_id>/stream/", views.draft_stream, name="assistant_draft_stream"),
    path("drafts/<uuid:draft_id>/stop/", views.draft_stop, name="assistant_draft_stop"),
    path("drafts/<uuid:draft_id>/edit/", views.draft_edit, name="assistant_draft_edit"),
    path("drafts/<uuid:draft_id>/subject/", views.draft_choose, name="assistant_draft_choose"),
    path("drafts/<uuid:draft_id>/retry/", views.draft_retry, name="assistant_draft_retry"),
    path("drafts/<uuid:draft_id>/delete/", views.draft_delete, name="assistant_draft_delete"),
    path("drafts/<uuid:draft_id>/preview/", views.draft_preview, name="assistant_draft_preview"),
    path(
        "drafts/<uuid:draft_id>/export.<str:fmt>",
        views.draft_export,
        name="assistant_draft_export",
    ),
]
