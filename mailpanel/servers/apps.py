from django.apps import AppConfig


class ServersConfig(AppConfig):
    name = "mailpanel.servers"
    label = "servers"
    verbose_name = "Servers"

    def ready(self) -> None:
        from mailpanel.servers import jobs  # noqa: F401  (registers the server job kinds)
