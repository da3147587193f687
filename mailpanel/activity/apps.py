from django.apps import AppConfig


class ActivityConfig(AppConfig):
    name = "mailpanel.activity"
    label = "activity"
    verbose_name = "Activity"
