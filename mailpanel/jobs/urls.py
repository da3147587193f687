from django.urls import path

from mailpanel.jobs import views

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("self-test/", views.start_selftest, name="job_start_selftest"),
    path("<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("<uuid:job_id>/events/", views.job_events, name="job_events"),
]
