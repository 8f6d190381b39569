"""DCVaaS settings: read from the environment only.

Every variable is documented in `.env.example`. With nothing set the product runs locally on
embedded defaults (SQLite, a broker that needs no server, the sandbox simulators); each of
`DATABASE_URL`, `REDIS_URL`, `CLOUDFLARE_*`, `STRIPE_*` and `GITHUB_*` switches one part to the
real thing.
"""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# Lets admin classes name their model (`admin.ModelAdmin[Domain]`) for the type checker, as
# django-stubs documents: Django's generic classes gain a `__class_getitem__`.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# ---------------------------------------------------------------------------------------------
# CORE
# ---------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or set DEBUG=true "
            "for local development."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public URL of this app, used in emails and as the Stripe return URL.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# The sandbox simulators (GitHub, Cloudflare, Stripe, DNS) stand in for every outside system
# that has no real credentials configured. They are on by default only when DEBUG is on.
SANDBOX = env.bool("SANDBOX", default=DEBUG)
SANDBOX_HOST = env.str("SANDBOX_HOST", default="127.0.0.1")
SANDBOX_STATE_DIR = Path(env.str("SANDBOX_STATE_DIR", default=str(BASE_DIR / ".sandbox")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "domains",
    "billing",
]
if SANDBOX:
    # The simulators of the outside world and their management commands (sandbox/): never
    # installed in production, where nothing of the product imports them.
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise: static files are neither logged nor given a page's policy.
    "dcvaas.middleware.RequestLogMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before the session: a throttled request (429) costs no session or database work.
    "dcvaas.throttling.ThrottleMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who is answering, for the audit log's actor, address and browser.
    "accounts.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "dcvaas.urls"
WSGI_APPLICATION = "dcvaas.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "accounts.context_processors.organizations",
                "dcvaas.once.form_key",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# ---------------------------------------------------------------------------------------------
# DATABASES
# ---------------------------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    # SQLite tuned for a web process and a Celery worker writing side by side: WAL lets readers
    # run during a write, IMMEDIATE takes the write lock at BEGIN (so two writers queue instead
    # of failing with "database is locked" on lock upgrade), and the busy timeout is how long
    # a writer waits for the other.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }

# ---------------------------------------------------------------------------------------------
# CACHES (and the broker, which shares REDIS_URL)
# ---------------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "dcvaas",
        }
    }
    # Sessions are read on every signed-in page: from Redis, written through to the database,
    # so a Redis restart signs no one out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    # A database cache is shared by every process on the machine (web, worker, beat), which a
    # local-memory cache is not; throttles and locks need that.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "dcvaas_cache",
        }
    }

# ---------------------------------------------------------------------------------------------
# CELERY
# ---------------------------------------------------------------------------------------------
CELERY_DATA_DIR = Path(env.str("CELERY_DATA_DIR", default=str(BASE_DIR / ".celery")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    # kombu's filesystem transport: messages are files in a folder, so web, worker and beat
    # processes on one machine share a queue with no server at all. The transport ignores the
    # host; naming one spares every process kombu's "No hostname was supplied" warning.
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Late acks + prefetch 1: a worker that dies mid-task leaves the message for another worker
# instead of losing it; every task is idempotent, so running one twice is safe.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Time limits: a task stuck on a hung connection would hold its worker (prefetch 1) forever.
# The soft limit raises inside the task so it can stop cleanly; the hard limit kills it. Both
# stay well under SYNC_LEASE_SECONDS, so a live task never loses its domains to the next cycle.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
# Declared in code, copied into django-celery-beat's tables by its DatabaseScheduler, where
# staff can see and pause it (admin > Periodic tasks).
CELERY_BEAT_SCHEDULE = {
    "every-1m-schedule-domain-sync": {
        "task": "domains.schedule_sync",
        # Every 30 s by default (the entry's name is kept: beat's table knows it by name): a
        # domain that comes due just after a cycle waits at most this long for the next one.
        "schedule": float(env.int("SYNC_SCHEDULE_SECONDS", default=30)),
        # A run that waited longer than its own interval in the queue is superseded by the next.
        "options": {"expires": float(env.int("SYNC_SCHEDULE_SECONDS", default=30))},
    },
    # Deliveries are kicked right after the commit that records them; this catches retries
    # coming due and anything a kick missed.
    # Origins' DNS records and the domains that follow them; kicked after each change too.
    "every-1m-sync-origins": {
        "task": "domains.sync_origins",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Hints are kicked as they arrive; this catches what a kick missed or a rate limit left.
    "every-1m-process-cloudflare-hints": {
        "task": "domains.process_hints",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "daily-sweep-origin-records": {
        "task": "domains.sweep_origin_records",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600.0},
    },
    # Domains still waiting for their DNS records: checked again at their DNS host (no
    # Cloudflare call), so a change is seen and announced (domain.dns_changed).
    "every-1m-recheck-dns-records": {
        "task": "domains.recheck_dns_records",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Hand-off emails: instructions are kicked when a link is emailed; reminders come due.
    "every-1m-send-handoff-emails": {
        "task": "domains.send_handoff_emails",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Organizations being deleted: their subscription canceled, the row deleted once nothing
    # of theirs is left at Cloudflare; kicked when a deletion is asked for.
    "every-1m-finish-organization-deletions": {
        "task": "domains.finish_organization_deletions",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "daily-sweep-audit-log": {
        "task": "accounts.sweep_audit_log",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600.0},
    },
    "every-10s-deliver-webhooks": {
        "task": "domains.deliver_webhooks",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
}

# ---------------------------------------------------------------------------------------------
# SYNC (the Celery loop that keeps every domain's status true; domains/sync/)
# ---------------------------------------------------------------------------------------------
# How long a cycle's claim on a domain lasts: a worker that dies mid-batch leaves its domains
# to the first cycle after this. Must exceed CELERY_TASK_TIME_LIMIT (and SYNC_ZONE_TIME_LIMIT).
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=900)
# A listing task pages through its share of a listing (about 0.3 s a page at Cloudflare).
SYNC_ZONE_TIME_LIMIT = env.int("SYNC_ZONE_TIME_LIMIT", default=600)
# Pages (of 50 hostnames) one listing task reads; a longer listing is split across workers.
SYNC_LISTING_PAGES_PER_TASK = env.int("SYNC_LISTING_PAGES_PER_TASK", default=100)
# Most domains one cycle claims to fetch one by one (a listing also takes every due domain it
# shows). Pending domains follow Cloudflare's own validation backoff (domains/schedule.py).
SYNC_MAX_PER_CYCLE = env.int("SYNC_MAX_PER_CYCLE", default=20000)
# Active domains are rechecked for moved hostnames, renewal trouble and expiry, all together at
# each multiple of this interval since the epoch (one listing checks them all); failed ones
# (timed out, moved after our one refresh) for a fix made without pressing Check now.
SYNC_ACTIVE_INTERVAL_SECONDS = env.int("SYNC_ACTIVE_INTERVAL_SECONDS", default=6 * 3600)
SYNC_FAILED_INTERVAL_SECONDS = env.int("SYNC_FAILED_INTERVAL_SECONDS", default=24 * 3600)
# Longest a sync call waits for the shared rate budget before the cycle stops and leaves the
# rest for the next one.
SYNC_BUDGET_WAIT_SECONDS = env.float("SYNC_BUDGET_WAIT_SECONDS", default=5.0)
# Owners are emailed this many days before a certificate expires (Cloudflare renews 30 days
# ahead, so a warning means renewal is stuck).
SYNC_CERT_EXPIRY_WARNING_DAYS = env.int("SYNC_CERT_EXPIRY_WARNING_DAYS", default=14)
if max(CELERY_TASK_TIME_LIMIT, SYNC_ZONE_TIME_LIMIT) >= SYNC_LEASE_SECONDS:
    raise ImproperlyConfigured(
        "SYNC_LEASE_SECONDS must exceed CELERY_TASK_TIME_LIMIT and SYNC_ZONE_TIME_LIMIT, or a "
        "slow batch could lose its domains to the next cycle while still working on them."
    )

# ---------------------------------------------------------------------------------------------
# ALLAUTH
# ---------------------------------------------------------------------------------------------
# allauth's backend (GitHub sign-in, and username/password for the admin's own login form),
# loading the user with their memberships in one query: accounts/backends.py.
AUTHENTICATION_BACKENDS = ["accounts.backends.AuthenticationBackend"]
SITE_ID = 1
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# Sign-in is GitHub only: no local passwords to leak or reset.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_QUERY_EMAIL = True

GITHUB_CLIENT_ID = env.str("GITHUB_CLIENT_ID", default="")
GITHUB_CLIENT_SECRET = env.str("GITHUB_CLIENT_SECRET", default="")
SANDBOX_GITHUB_PORT = env.int("SANDBOX_GITHUB_PORT", default=8701)
if GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET:
    _github: dict[str, object] = {
        "APP": {"client_id": GITHUB_CLIENT_ID, "secret": GITHUB_CLIENT_SECRET},
        "SCOPE": ["read:user", "user:email"],
    }
elif SANDBOX:
    # The GitHub simulator (sandbox/github.py) speaks GitHub Enterprise's URL layout,
    # which allauth reaches through GITHUB_URL: the OAuth dance really happens over HTTP.
    _github = {
        "APP": {"client_id": "sandbox-client-id", "secret": "sandbox-client-secret"},
        "SCOPE": ["read:user", "user:email"],
        "GITHUB_URL": env.str(
            "SANDBOX_GITHUB_URL", default=f"http://{SANDBOX_HOST}:{SANDBOX_GITHUB_PORT}"
        ),
    }
else:
    raise ImproperlyConfigured(
        "Sign-in needs GitHub: set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET "
        "(or SANDBOX=true to use the local GitHub simulator)."
    )
SOCIALACCOUNT_PROVIDERS = {"github": _github}

# ---------------------------------------------------------------------------------------------
# CLOUDFLARE
# ---------------------------------------------------------------------------------------------
# Read by domains/cloudflare/ at call time, so a missing value fails the call that needs it
# (naming the variable), never import, `manage.py check` or tests.
SANDBOX_CLOUDFLARE_PORT = env.int("SANDBOX_CLOUDFLARE_PORT", default=8787)
SANDBOX_CLOUDFLARE_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
SANDBOX_CLOUDFLARE_TOKEN = "sandbox-cloudflare-token"  # noqa: S105
_cf_sandbox = SANDBOX and not env.str("CLOUDFLARE_API_TOKEN", default="")
CLOUDFLARE_API_BASE = env.str(
    "CLOUDFLARE_API_BASE",
    default=(
        f"http://{SANDBOX_HOST}:{SANDBOX_CLOUDFLARE_PORT}/client/v4"
        if _cf_sandbox
        else "https://api.cloudflare.com/client/v4"
    ),
).rstrip("/")
CLOUDFLARE_API_TOKEN = env.str(
    "CLOUDFLARE_API_TOKEN", default=SANDBOX_CLOUDFLARE_TOKEN if _cf_sandbox else ""
)
CLOUDFLARE_ZONE_ID = env.str(
    "CLOUDFLARE_ZONE_ID", default=SANDBOX_CLOUDFLARE_ZONE_ID if _cf_sandbox else ""
)
# The Cloudflare account (for Notifications: `manage.py cloudflare_notifications`), and the
# secret Cloudflare sends in `cf-webhook-auth` with each notification to /webhooks/cloudflare
# (empty: push is off and the sync loop alone keeps domains true).
SANDBOX_CLOUDFLARE_ACCOUNT_ID = "01a7362d577a6c3019a474fd6f485823"
CLOUDFLARE_ACCOUNT_ID = env.str(
    "CLOUDFLARE_ACCOUNT_ID", default=SANDBOX_CLOUDFLARE_ACCOUNT_ID if _cf_sandbox else ""
)
CLOUDFLARE_WEBHOOK_SECRET = env.str(
    "CLOUDFLARE_WEBHOOK_SECRET",
    default="sandbox-cloudflare-webhook-secret" if _cf_sandbox else "",
)
# While Cloudflare's notifications arrive (one came within the hour), pending domains are polled
# no more often than this: push reports every certificate step; the poller is the backstop.
PUSH_BACKSTOP_SECONDS = env.int("PUSH_BACKSTOP_SECONDS", default=600)
# A step another follows within seconds to minutes (validation or issuance succeeded) waits this
# long instead, so the GET made for it usually finds the certificate active: one GET per
# activation rather than one per step.
PUSH_SETTLE_SECONDS = env.float("PUSH_SETTLE_SECONDS", default=30.0)
# The hostname customers CNAME to: a proxied record in our SaaS zone (Cloudflare has no API
# field for it, so it is ours to configure).
DCV_CNAME_TARGET = env.str("DCV_CNAME_TARGET", default="dcv.pcnaid.com")
# Apex proxying (an Enterprise add-on): the addresses Cloudflare gave the SaaS zone for bare
# domains, comma-separated. Set, an apex domain is told to create A/AAAA records with them;
# unset, to use a host's CNAME flattening or ALIAS record, or www instead.
CLOUDFLARE_APEX_IPV4 = env.list("CLOUDFLARE_APEX_IPV4", default=[])
CLOUDFLARE_APEX_IPV6 = env.list("CLOUDFLARE_APEX_IPV6", default=[])
# The SaaS zone's name (the zone CLOUDFLARE_ZONE_ID names); by default the CNAME target's parent.
CLOUDFLARE_ZONE_NAME = env.str(
    "CLOUDFLARE_ZONE_NAME", default=DCV_CNAME_TARGET.rstrip(".").split(".", 1)[-1]
)
# Tenant origins: one proxied record per origin at <key>.<this>.<zone name> (domains/origins/).
CLOUDFLARE_ORIGINS_SUBDOMAIN = env.str("CLOUDFLARE_ORIGINS_SUBDOMAIN", default="origins")
# The SNI Cloudflare sends to an origin: "" (Cloudflare's default: the origin record's name),
# "origin" (the origin's own hostname) or "request_host" (the customer's hostname). The last
# two need the zone's SNI-rewrite entitlement.
CLOUDFLARE_ORIGIN_SNI = env.str("CLOUDFLARE_ORIGIN_SNI", default="")
# Whether an origin's hostname may resolve to loopback: only the sandbox's own test app does.
ORIGIN_ALLOW_LOOPBACK = env.bool("ORIGIN_ALLOW_LOOPBACK", default=SANDBOX)
# Test origin (domains/origins/probe.py): the whole test's time and the ports tried (HTTPS,
# then HTTP). The sandbox's tenant app listens on its own ports.
ORIGIN_PROBE_SECONDS = env.float("ORIGIN_PROBE_SECONDS", default=5.0)
SANDBOX_APP_TLS_PORT = env.int("SANDBOX_APP_TLS_PORT", default=8743)
SANDBOX_APP_PORT = env.int("SANDBOX_APP_PORT", default=8780)
ORIGIN_PROBE_PORTS = env.list(
    "ORIGIN_PROBE_PORTS",
    cast=int,
    default=[SANDBOX_APP_TLS_PORT, SANDBOX_APP_PORT] if SANDBOX else [443, 80],
)
CLOUDFLARE_CONNECT_TIMEOUT = env.float("CLOUDFLARE_CONNECT_TIMEOUT", default=5.0)
CLOUDFLARE_READ_TIMEOUT = env.float("CLOUDFLARE_READ_TIMEOUT", default=20.0)
CLOUDFLARE_MAX_RETRIES = env.int("CLOUDFLARE_MAX_RETRIES", default=3)
# The most a person's request (adding, removing, Check now) waits on Cloudflare, all calls,
# retries and waits together; what is left unfinished is finished by the sync loop.
CLOUDFLARE_INTERACTIVE_SECONDS = env.float("CLOUDFLARE_INTERACTIVE_SECONDS", default=4.0)
# Cloudflare allows 1,200 requests per 5 minutes per token, across every process; we keep a
# slice of it for people (add, delete, check now) so a large sync can never starve them.
CLOUDFLARE_RATE_LIMIT = env.int("CLOUDFLARE_RATE_LIMIT", default=1200)
CLOUDFLARE_RATE_WINDOW = env.int("CLOUDFLARE_RATE_WINDOW", default=300)
CLOUDFLARE_RATE_RESERVED = env.int("CLOUDFLARE_RATE_RESERVED", default=200)
# The share of the sync loop's slice (limit - reserved) its listings may spend in one window: the
# six-hourly listing of every active domain (1,000 calls at 50,000) is spread over two windows
# and leaves calls for hints and pending domains in each.
CLOUDFLARE_RATE_LISTING_SHARE = env.float("CLOUDFLARE_RATE_LISTING_SHARE", default=0.7)

# Seconds between two "Check now" of the same domain.
CHECK_NOW_INTERVAL = env.int("CHECK_NOW_INTERVAL", default=15)
# Hand-off links (domains/handoffs/): how many days a new link works, and how often its
# "Check my records" may be pressed, per link and per visitor address.
HANDOFF_DAYS = env.int("HANDOFF_DAYS", default=14)
# Days the audit log keeps an event (a daily sweep deletes older ones).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=400)
# Days an invitation to join an organization works (accounts/members.py).
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)
HANDOFF_CHECK_RATE_PER_LINK = env.str("HANDOFF_CHECK_RATE_PER_LINK", default="20/hour")
HANDOFF_CHECK_RATE_PER_IP = env.str("HANDOFF_CHECK_RATE_PER_IP", default="60/hour")

# ---------------------------------------------------------------------------------------------
# DNS
# ---------------------------------------------------------------------------------------------
# Nameserver for our own DNS checks (and the Cloudflare simulator's); empty = the system's.
SANDBOX_DNS_PORT = env.int("SANDBOX_DNS_PORT", default=8853)
DNS_RESOLVER = env.str(
    "DNS_RESOLVER", default=f"{SANDBOX_HOST}:{SANDBOX_DNS_PORT}" if SANDBOX else ""
)
DNS_TIMEOUT = env.float("DNS_TIMEOUT", default=3.0)
# What one check of a domain's records may take in all, however many lookups it makes (a
# dead nameserver then costs this, not a timeout per record).
DNS_CHECK_SECONDS = env.float("DNS_CHECK_SECONDS", default=5.0)
# GET /api/v1/domains/{id}/dns answers a check at most this old (seconds), else checks now.
DNS_CHECK_FRESH_SECONDS = env.int("DNS_CHECK_FRESH_SECONDS", default=10)
# A domain waiting for its records has them checked again this often (minutes).
DNS_RECHECK_MINUTES = env.int("DNS_RECHECK_MINUTES", default=5)
# The port a zone's own nameservers are asked at (records checked at the DNS host itself). 53
# in the world; the sandbox's zones are served at its DNS port.
DNS_AUTHORITATIVE_PORT = env.int(
    "DNS_AUTHORITATIVE_PORT", default=SANDBOX_DNS_PORT if SANDBOX else 53
)

# ---------------------------------------------------------------------------------------------
# WEBHOOKS (outgoing, to tenants' endpoints: domains/webhooks/)
# ---------------------------------------------------------------------------------------------
# One attempt's limit, connecting and reading together.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# The most of an endpoint's answer we read (and keep an excerpt of).
# An endpoint that has failed every delivery for this long is disabled, and its owners told.
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)
# After a secret is rotated, the old one keeps signing (beside the new) this long.
WEBHOOK_SECRET_OVERLAP_HOURS = env.int("WEBHOOK_SECRET_OVERLAP_HOURS", default=24)
# The sandbox's webhook inbox (sandbox/inbox.py), and the loopback ports a webhook may go to
# (http:// allowed) so it can be an endpoint: the inbox's alone, and only with the sandbox;
# nothing else on loopback (a Redis or PostgreSQL port) is ever a webhook's destination.
SANDBOX_INBOX_PORT = env.int("SANDBOX_INBOX_PORT", default=8703)
WEBHOOK_LOOPBACK_PORTS = env.list(
    "WEBHOOK_LOOPBACK_PORTS", cast=int, default=[SANDBOX_INBOX_PORT] if SANDBOX else []
)

# ---------------------------------------------------------------------------------------------
# STRIPE
# ---------------------------------------------------------------------------------------------
SANDBOX_STRIPE_PORT = env.int("SANDBOX_STRIPE_PORT", default=8702)
_stripe_sandbox = SANDBOX and not env.str("STRIPE_SECRET_KEY", default="")
STRIPE_SECRET_KEY = env.str(
    "STRIPE_SECRET_KEY", default="sk_test_sandbox" if _stripe_sandbox else ""
)
STRIPE_WEBHOOK_SECRET = env.str(
    "STRIPE_WEBHOOK_SECRET", default="whsec_sandbox" if _stripe_sandbox else ""
)
STRIPE_API_BASE = env.str(
    "STRIPE_API_BASE",
    default=f"http://{SANDBOX_HOST}:{SANDBOX_STRIPE_PORT}" if _stripe_sandbox else "",
)
STRIPE_PRICE_PRO = env.str("STRIPE_PRICE_PRO", default="price_sandbox_pro")
STRIPE_PRICE_AGENCY = env.str("STRIPE_PRICE_AGENCY", default="price_sandbox_agency")
PLAN_LIMIT_FREE = env.int("PLAN_LIMIT_FREE", default=3)
PLAN_LIMIT_PRO = env.int("PLAN_LIMIT_PRO", default=15)
PLAN_LIMIT_AGENCY = env.int("PLAN_LIMIT_AGENCY", default=50)
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)

# ---------------------------------------------------------------------------------------------
# EMAIL
# ---------------------------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif SANDBOX:
    # The sandbox's mailbox: every email is written here, and the sandbox page shows them
    # (the DNS owner's instructions and reminders can be read and their links followed).
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(SANDBOX_STATE_DIR / "mail")
else:
    EMAIL_BACKEND = (
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend"
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="DCVaaS <noreply@dcvaas.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="120/min")
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.authentication.HasApiToken"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.authentication.ApiTokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": API_THROTTLE_RATE},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["dcvaas.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "dcvaas.api.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DCVaaS API",
    "DESCRIPTION": "Bring-your-own-domain HTTPS for SaaS products.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["dcvaas.api.without_slash_aliases"],
}

# ---------------------------------------------------------------------------------------------
# SECURITY
# ---------------------------------------------------------------------------------------------
# Every flag defaults to on when DEBUG is off; `manage.py check --deploy` is clean with the
# production-like environment in .env.example.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# No script reads the CSRF cookie: htmx sends the token the page carries (base.html).
CSRF_COOKIE_HTTPONLY = True
ADMIN_URL = env.str("ADMIN_URL", default="admin/").strip("/") + "/"

# Content Security Policy (django-csp's CSPMiddleware): our own static files only, no inline
# script or style unless it carries the request's nonce (`request.csp_nonce`, added to the
# header only on pages that use it). htmx's own indicator <style> is turned off in base.html.
# `data:` images are Pico's and Swagger UI's inline SVG icons. No form-action: sign-in and
# checkout forms post to us and are redirected to GitHub and Stripe, which form-action would
# block in Chromium.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}

# Per-client-IP throttles (dcvaas/throttling.py), counted in the shared cache: requests to the
# GitHub sign-in start, and API requests answered 401 (no or invalid token) before the address
# is refused. Rates are N/s, N/min, N/hour or N/day.
SIGN_IN_THROTTLE_RATE = env.str("SIGN_IN_THROTTLE_RATE", default="30/min")
API_ANON_THROTTLE_RATE = env.str("API_ANON_THROTTLE_RATE", default="30/min")
# How many proxies in front of the app append to X-Forwarded-For (0: trust none and use the
# connection's address). Client IPs for every throttle, allauth's included, come from this.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# ---------------------------------------------------------------------------------------------
# LOGGING
# ---------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Our lines carry ids only; the filter scrubs credentials from anyone else's (dcvaas/logging.py,
    # which also logs one line per Celery task).
    "filters": {"redact_secrets": {"()": "dcvaas.logging.RedactSecretsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers for this logger (a console one while DEBUG is on) would print
        # "Not Found: <path>" unredacted: ours replace them.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # stripe-python logs every request at INFO, with URLs we do not need in our logs.
        "stripe": {"level": "WARNING"},
    },
}
