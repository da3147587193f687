from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "mailpanel.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Registers the huey tasks and the built-in job kinds.
        from mailpanel.jobs import kinds, tasks  # noqa: F401
