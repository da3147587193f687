from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "mailpanel.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        # Registers the export job kind and the huey tasks (deletion, nightly purge).
        from mailpanel.privacy import exports, tasks  # noqa: F401
        from mailpanel.privacy.breach_admin import IncidentAdmin  # noqa: F401
        from mailpanel.privacy.context import look_up_at_sign_in  # noqa: F401
        from mailpanel.privacy.policy_admin import PolicyVersionAdmin  # noqa: F401
        from mailpanel.privacy.policy_tasks import send_policy_notices_task  # noqa: F401

        _register_inbound_handlers()


def _register_inbound_handlers() -> None:
    """Mail to the privacy address (data requests, reports of a minor's account) and to
    the bounce addresses of the notices."""
    from mailpanel.inbound import routing
    from mailpanel.privacy import bounces, minors, requests

    routing.register(routing.DATA_REQUEST, requests.file_from_mail)
    routing.register(routing.BOUNCE, bounces.record_bounce, keep=False)
    routing.register(minors.MINOR_REPORT_ROUTE, minors.report_from_mail)
