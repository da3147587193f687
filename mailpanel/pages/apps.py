from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PagesConfig(AppConfig):
    default = True
    name = "mailpanel.pages"
    label = "pages"
    verbose_name = "Pages"


class PanelAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "mailpanel.pages.admin_site.PanelAdminSite"
