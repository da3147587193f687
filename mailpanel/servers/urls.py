from django.urls import path

from mailpanel.servers import views

urlpatterns = [
    path("", views.server_list, name="servers"),
    path("add/", views.server_add, name="server_add"),
    path("fleet/", views.fleet_start, name="server_fleet_start"),
    path("fleet/<uuid:run_id>/", views.fleet_run, name="server_fleet_run"),
    path("<uuid:server_id>/", views.server_detail, name="server_detail"),
    path("<uuid:server_id>/host-key/", views.server_host_key, name="server_host_key"),
    path("<uuid:server_id>/delete/", views.server_delete, name="server_delete"),
    path("<uuid:server_id>/do/<slug:action>/", views.server_action, name="server_action"),
]
