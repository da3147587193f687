from django.apps import AppConfig


class ActivityConfig(AppConfig):
    name = "mailpanel.activity"
    label = "activity"
    verbose_name = "Activity"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from mailpanel.activity import signins

        # Django's own auth signals: allauth (password, 2FA, email confirmation) and the
        # admin all end in django.contrib.auth.login/logout, so one receiver sees them all.
        user_logged_in.connect(signins.on_signed_in, dispatch_uid="activity.signed_in")
        user_logged_out.connect(signins.on_signed_out, dispatch_uid="activity.signed_out")
        user_login_failed.connect(signins.on_sign_in_failed, dispatch_uid="activity.failed")
