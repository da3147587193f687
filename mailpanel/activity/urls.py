from django.urls import path

from mailpanel.activity import views

urlpatterns = [
    path("", views.activity_list, name="activity"),
    path("activity.csv", views.activity_csv, name="activity_csv"),
]
