from django.urls import path

from mailpanel.support import views

urlpatterns = [
    path("", views.contact, name="support_contact"),
    path("sent/", views.sent, name="support_sent"),
    path("threads/", views.thread_list, name="support_threads"),
    path("threads/<uuid:thread_id>/", views.thread_detail, name="support_thread"),
]
