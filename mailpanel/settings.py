"""MailPanel settings: one module, driven by MAILPANEL_* environment variables.

Embedded mode (the default) works on a fresh checkout: SQLite in WAL mode and a
generated secret key in the data folder. ``MAILPANEL_MODE=production`` refuses
to start unless the secret key, allowed hosts and HTTPS are set explicitly.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF

from mailpanel.conf import (
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    generated_secret_file,
    mandatory_secret,
    private_dir,
    private_file,
)

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent
MODE = env_str("MAILPANEL_MODE", "embedded")
PRODUCTION = MODE == "production"
if MODE not in {"embedded", "production"}:
    raise ValueError(f"MAILPANEL_MODE must be embedded or production, not {MODE!r}")

# The data folder holds session keys, password hashes and the vault's keys: 0700, and the
# files the panel creates in it 0600, whatever the umask.
DATA_DIR = private_dir(Path(env_str("MAILPANEL_DATA_DIR", "var")).resolve())

if PRODUCTION:
    SECRET_KEY = mandatory_secret("MAILPANEL_SECRET_KEY")
    ALLOWED_HOSTS = env_list("MAILPANEL_ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ValueError("MAILPANEL_ALLOWED_HOSTS must be set when MAILPANEL_MODE=production")
    if not env_bool("MAILPANEL_HTTPS", False):
        raise ValueError(
            "MAILPANEL_HTTPS=true must be set when MAILPANEL_MODE=production "
            "(the panel is served over HTTPS only)"
        )
    DEBUG = False
else:
    SECRET_KEY = env_secret("MAILPANEL_SECRET_KEY") or generated_secret_file(
        DATA_DIR / "secret_key"
    )
    ALLOWED_HOSTS = env_list("MAILPANEL_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
    DEBUG = env_bool("MAILPANEL_DEBUG", False)

HTTPS = PRODUCTION or env_bool("MAILPANEL_HTTPS", False)
# X-Forwarded-For/-Proto are read only behind a proxy, and only from these addresses.
BEHIND_PROXY = env_bool("MAILPANEL_BEHIND_PROXY", False)
TRUSTED_PROXIES = env_list("MAILPANEL_TRUSTED_PROXIES", ["127.0.0.1", "::1"])

# --- vault ------------------------------------------------------------------
# Inline keys (read-only) or a key file (rotation can append to it). The last key is active.
VAULT_KEYS = env_str("MAILPANEL_VAULT_KEYS") or None
VAULT_KEYS_FILE = Path(env_str("MAILPANEL_VAULT_KEYS_FILE") or DATA_DIR / "vault-keys")
if (
    PRODUCTION
    and not VAULT_KEYS
    and not (env_str("MAILPANEL_VAULT_KEYS_FILE") and VAULT_KEYS_FILE.exists())
):
    raise ValueError(
        "MAILPANEL_VAULT_KEYS (or MAILPANEL_VAULT_KEYS_FILE, an existing file) must be set "
        "when MAILPANEL_MODE=production: the vault will not invent a key in production"
    )
PUBLIC_URL = env_str("MAILPANEL_PUBLIC_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "mailpanel.accounts",
    "mailpanel.privacy",
    "mailpanel.jobs",
    "mailpanel.vault",
    "mailpanel.activity",
    "mailpanel.inbound",
    "mailpanel.assistant",
    "mailpanel.servers",
    "mailpanel.domains",
    "mailpanel.dns",
    "mailpanel.support",
    "mailpanel.billing",
    "mailpanel.pages",
    "mailpanel.pages.apps.PanelAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "huey.contrib.djhuey",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mailpanel.requestlog.RequestLogMiddleware",
    "mailpanel.pages.middleware.StaticFilesMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "mailpanel.pages.middleware.UserSessionActivityMiddleware",
    "mailpanel.pages.middleware.PermissionsPolicyMiddleware",
    "mailpanel.pages.middleware.ProcessingPausedMiddleware",
    "mailpanel.billing.middleware.PlanLimitMiddleware",
]

ROOT_URLCONF = "mailpanel.urls"
ASGI_APPLICATION = "mailpanel.asgi.application"
WSGI_APPLICATION = "mailpanel.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mailpanel.pages.context.navigation",
                "mailpanel.pages.context.mail_outbox",
                "mailpanel.privacy.context.policy_banner",
                "mailpanel.billing.context.billing_banner",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES: dict[str, Any] = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": private_file(DATA_DIR / "mailpanel.sqlite3"),
            # WAL lets the worker write job logs while the web process reads them.
            "OPTIONS": {
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
            # A file, not :memory:, so the test worker threads see the same data.
            "TEST": {"NAME": str(DATA_DIR / "test-mailpanel.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- queue and cache --------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
HUEY: dict[str, Any]
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.PriorityRedisHuey",
        "name": env_str("MAILPANEL_QUEUE_NAME", "mailpanel"),
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": env_int("MAILPANEL_WORKERS", 8), "worker_type": "thread"},
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "mailpanel",
        "filename": str(private_file(DATA_DIR / env_str("MAILPANEL_QUEUE_FILE", "queue.sqlite3"))),
        "immediate": False,
        # SQLite cannot block like Redis: poll every 50 ms, so a click starts a job at once.
        "consumer": {
            "workers": env_int("MAILPANEL_WORKERS", 4),
            "worker_type": "thread",
            "initial_delay": 0.05,
            "backoff": 1.0,
            "max_delay": 0.05,
        },
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- accounts ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name", "company")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_FORMS = {"signup": "mailpanel.accounts.forms.PanelSignupForm"}
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[MailPanel] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if HTTPS else "http"
ACCOUNT_ADAPTER = "mailpanel.accounts.adapter.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    # key: the account and the address together (accounts/adapter.py); the account alone:
    "login_failed": "10/m/ip,5/5m/key",
    "login_failed_account": "30/30m/key",
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
MFA_ADAPTER = "mailpanel.accounts.mfa_adapter.MFAAdapter"  # secrets sealed by the vault
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "MailPanel Pro"
MFA_RECOVERY_CODE_COUNT = 10
USERSESSIONS_TRACK_ACTIVITY = True

# --- mail -------------------------------------------------------------------
# The sender of the panel's own mail (verification, password reset, notices); required in
# production, where receivers refuse a made-up domain. MAILPANEL_FROM_EMAIL is the old name.
MAIL_FROM = env_str("MAILPANEL_MAIL_FROM") or env_str("MAILPANEL_FROM_EMAIL")
if PRODUCTION and not MAIL_FROM:
    raise ValueError("MAILPANEL_MAIL_FROM must be set when MAILPANEL_MODE=production")
DEFAULT_FROM_EMAIL = MAIL_FROM or "MailPanel Pro <panel@mailpanel.localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env_str("MAILPANEL_SMTP_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("MAILPANEL_SMTP_PORT", 587)
    EMAIL_HOST_USER = env_str("MAILPANEL_SMTP_USER")
    EMAIL_HOST_PASSWORD = env_secret("MAILPANEL_SMTP_PASSWORD") or ""
    EMAIL_USE_TLS = env_bool("MAILPANEL_SMTP_STARTTLS", True)
    EMAIL_USE_SSL = env_bool("MAILPANEL_SMTP_TLS", False)
    EMAIL_TIMEOUT = 20
elif PRODUCTION:
    raise ValueError("MAILPANEL_SMTP_HOST must be set when MAILPANEL_MODE=production")
else:
    # Development: every message lands as a file that a person or a test reads.
    EMAIL_BACKEND = "mailpanel.mailfiles.PrivateFileBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "outbox")

# The panel's own addresses: mail to them comes in through `mailpanel inbound`.
MAIL_DOMAIN = env_str("MAILPANEL_MAIL_DOMAIN", "mailpanel.localhost")
PRIVACY_EMAIL = env_str("MAILPANEL_PRIVACY_EMAIL", f"privacy@{MAIL_DOMAIN}")
SUPPORT_EMAIL = env_str("MAILPANEL_SUPPORT_EMAIL", f"support@{MAIL_DOMAIN}")
INBOUND_HOST = env_str("MAILPANEL_INBOUND_HOST", "127.0.0.1")
INBOUND_PORT = env_int("MAILPANEL_INBOUND_PORT", 2525)
INBOUND_MAX_BYTES = env_int("MAILPANEL_INBOUND_MAX_BYTES", 10 * 1024 * 1024)
INBOUND_ATTACHMENT_MAX_BYTES = env_int("MAILPANEL_INBOUND_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024)
# Staff who receive data-request reminders and minor reports (comma separated addresses).
STAFF_NOTICES_TO = env_list("MAILPANEL_STAFF_NOTICES_TO")

# --- cookies and security headers ------------------------------------------
SESSION_COOKIE_NAME = "__Host-sessionid" if HTTPS else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if HTTPS else "csrftoken"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 14 * 24 * 3600
# Messages live in the session, so the panel sets no cookie beyond the two above.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
CSRF_TRUSTED_ORIGINS = env_list("MAILPANEL_CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "mailpanel.pages.views.csrf_failure"  # says when cookies are blocked
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("MAILPANEL_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("MAILPANEL_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if BEHIND_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS: list[str] = []
DEFAULT_EXCEPTION_REPORTER_FILTER = "mailpanel.vault.reports.RedactingExceptionReporterFilter"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
        "manifest-src": [SELF],
    }
}

# --- static files -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"  # public files: collected, not private
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Serve straight from the source folders when nothing was collected (tests, dev).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_MANIFEST_STRICT = PRODUCTION

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- outside peers (the lab's fakes stand in for them in tests) -------------
DNS_API_URLS = {
    "cloudflare": env_str("MAILPANEL_CLOUDFLARE_API_URL", "https://api.cloudflare.com/client/v4"),
    "namecom": env_str("MAILPANEL_NAMECOM_API_URL", "https://api.name.com/v4"),
    "openprovider": env_str("MAILPANEL_OPENPROVIDER_API_URL", "https://api.openprovider.eu/v1beta"),
}
NVIDIA_API_URL = env_str("MAILPANEL_NVIDIA_API_URL", "https://integrate.api.nvidia.com/v1")
NVIDIA_MODEL = env_str("MAILPANEL_NVIDIA_MODEL", "deepseek-ai/deepseek-v3-0324")
# ACME for TLS certificates (HTTP-01). A private CA (e.g. step-ca) needs its CA bundle.
ACME_DIRECTORY = env_str(
    "MAILPANEL_ACME_DIRECTORY", "https://acme-v02.api.letsencrypt.org/directory"
)
ACME_CA_BUNDLE = env_str("MAILPANEL_ACME_CA_BUNDLE")  # a PEM file path, or empty
# Roots the panel trusts, beyond the system's, when it fetches an MTA-STS policy as a sender
# would (the private ACME CA's issuing root; the lab's pebble). A PEM file path, or empty.
MTA_STS_CA_BUNDLE = env_str("MAILPANEL_MTA_STS_CA_BUNDLE")
# Resolvers for the panel's own DNS lookups (PTR, verification, checks).
DNS_RESOLVERS = env_list("MAILPANEL_DNS_RESOLVERS", ["1.1.1.1", "9.9.9.9"])
DNS_RESOLVER_PORT = env_int("MAILPANEL_DNS_RESOLVER_PORT", 53)
# The largest request body the panel reads (mailpanel/asgi.py answers 413 above it).
REQUEST_BODY_MAX_BYTES = env_int("MAILPANEL_REQUEST_BODY_MAX_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
OUTBOUND_TIMEOUT_SECONDS = env_int("MAILPANEL_OUTBOUND_TIMEOUT_SECONDS", 30)
# Networks a user's server may be in beyond the public internet (comma-separated CIDRs).
# The default is the private ranges, where self-hosters' LANs live: 10.0.0.0/8,
# 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 and fc00::/7; an empty value allows public
# addresses only. Loopback, link-local (cloud metadata), multicast, unspecified and reserved
# addresses are refused unless listed here too (e.g. 127.0.0.0/8 for a tunnel on this host).
SERVER_NETWORKS_ALLOWED = env_list(
    "MAILPANEL_SERVER_NETWORKS_ALLOWED",
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"],
)
for _network in SERVER_NETWORKS_ALLOWED:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ValueError(f"MAILPANEL_SERVER_NETWORKS_ALLOWED: {_exc}") from None

# --- jobs -------------------------------------------------------------------
JOB_HEARTBEAT_SECONDS = env_int("MAILPANEL_JOB_HEARTBEAT_SECONDS", 5)
# A running job whose heartbeat is older than this died with its worker.
JOB_STALE_SECONDS = env_int("MAILPANEL_JOB_STALE_SECONDS", 60)

# --- billing ----------------------------------------------------------------
# Without a Stripe secret key billing is off: no plans, no limits (self-hosting).
STRIPE_SECRET_KEY = env_secret("MAILPANEL_STRIPE_SECRET_KEY") or ""
STRIPE_WEBHOOK_SECRET = env_secret("MAILPANEL_STRIPE_WEBHOOK_SECRET") or ""
STRIPE_API_BASE = env_str("MAILPANEL_STRIPE_API_URL", "https://api.stripe.com")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("MAILPANEL_STRIPE_WEBHOOK_TOLERANCE", 300)
STRIPE_MAX_NETWORK_RETRIES = env_int("MAILPANEL_STRIPE_MAX_RETRIES", 2)
STRIPE_TIMEOUT_SECONDS = env_int("MAILPANEL_STRIPE_TIMEOUT", 10)
BILLING_GRACE_DAYS = env_int("MAILPANEL_BILLING_GRACE_DAYS", 7)
# The plans: limits (None: no limit) and the Stripe Price each paid plan is sold at. The
# server chooses the price from the plan's key; a form never names one.
BILLING_PLANS: dict[str, dict[str, Any]] = {
    "free": {"name": "Free", "servers": 1, "domains": 3, "fleet": False, "price": ""},
    "pro": {
        "name": "Pro",
        "servers": 10,
        "domains": 50,
        "fleet": True,
        "price": env_str("MAILPANEL_STRIPE_PRICE_PRO"),
        "amount": env_str("MAILPANEL_PRICE_PRO_TEXT", "€9 a month"),
    },
    "business": {
        "name": "Business",
        "servers": None,
        "domains": None,
        "fleet": True,
        "price": env_str("MAILPANEL_STRIPE_PRICE_BUSINESS"),
        "amount": env_str("MAILPANEL_PRICE_BUSINESS_TEXT", "€49 a month"),
    },
}
if PRODUCTION and STRIPE_SECRET_KEY and not STRIPE_WEBHOOK_SECRET:
    raise ValueError("MAILPANEL_STRIPE_WEBHOOK_SECRET must be set when billing is on")
_unpriced = [key for key, spec in BILLING_PLANS.items() if key != "free" and not spec["price"]]
if STRIPE_SECRET_KEY and _unpriced:  # billing on with a plan nobody could buy
    raise ValueError(
        "billing is on (MAILPANEL_STRIPE_SECRET_KEY): set the Stripe Price of every paid "
        "plan, " + ", ".join(f"MAILPANEL_STRIPE_PRICE_{key.upper()}" for key in _unpriced)
    )

# --- your data: retention, export, deletion ----------------------------------
# How long each category is kept, in days (0: removed at the next purge). One table: the
# purge enforces these and the "Your data" page shows them. MAILPANEL_RETENTION_<NAME>
# overrides one, e.g. MAILPANEL_RETENTION_JOB_LOG_LINES=30.
RETENTION_DEFAULT_DAYS = {
    "job_log_lines": 90,
    "jobs": 365,
    "activity": 365,
    "sign_ins": 365,
    "ended_sessions": 30,
    "exports": 7,
    "application_logs": 30,
    "deleted_accounts": 0,
    # Proof of how the panel kept its promises, counted from when the matter closed.
    "data_requests": 3 * 365,
    "notices": 3 * 365,
    "minor_reports": 3 * 365,
    "support": 2 * 365,
    # Invoices: kept as tax law asks (10 years covers the EU's longest, e.g. Germany's).
    "invoices": 10 * 365,
    # Billing events received from the payment processor (ids and types, for idempotency).
    "billing_events": 90,
}
RETENTION_DAYS = {
    _name: env_int(f"MAILPANEL_RETENTION_{_name.upper()}", _days)
    for _name, _days in RETENTION_DEFAULT_DAYS.items()
}
EXPORT_DIR = DATA_DIR / "exports"
EXPORT_MIN_INTERVAL_HOURS = env_int("MAILPANEL_EXPORT_MIN_INTERVAL_HOURS", 24)
PURGE_BATCH_SIZE = env_int("MAILPANEL_PURGE_BATCH_SIZE", 1000)

# --- logging ----------------------------------------------------------------
LOG_FORMAT = env_str("MAILPANEL_LOG_FORMAT", "json" if PRODUCTION else "console")
LOG_LEVEL = env_str("MAILPANEL_LOG_LEVEL", "INFO")
# Always JSON lines, one file per process role (mailpanel-web.log, mailpanel-worker.log),
# rotated at midnight UTC and deleted after RETENTION_DAYS["application_logs"] by the
# purge. An empty MAILPANEL_LOG_FILE writes no file.
_log_file = env_str("MAILPANEL_LOG_FILE", str(DATA_DIR / "logs" / "mailpanel.log"))
LOG_FILE = Path(_log_file).resolve() if _log_file else None
# Set by ``mailpanel web`` and ``mailpanel worker`` (cli.py) for themselves and the
# processes they start; anything else (manage commands, tests) is "panel".
LOG_ROLE = env_str("MAILPANEL_PROCESS_ROLE", "panel")
LOGGING_CONFIG = None
from mailpanel.logs import configure_logging  # noqa: E402

configure_logging(LOG_FORMAT, LOG_LEVEL, log_file=LOG_FILE, role=LOG_ROLE)
