"""Settings, read from the environment with embedded defaults.

The embedded default (no variables set) is a self-contained development
service: SQLite under `data/`, a Celery broker in a SQLite file (kombu's
SQLAlchemy transport, no server), the local Bedrock emulator, console email.
`DJANGO_ENV=production` switches to production defaults and refuses to start
without a secret key. Every variable is listed in the README.
"""

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from agent_platform.env import envbool, envchoice, envint, envlist, envstr
from agent_platform.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(envstr("DATA_DIR", str(BASE_DIR / "data")))

DJANGO_ENV = envchoice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = DJANGO_ENV == "production"

DEBUG = envbool("DEBUG", not PRODUCTION)
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when DJANGO_ENV=production")
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = envstr("SITE_URL", "http://localhost:8000")

INSTALLED_APPS = [
    "agent_platform.admin_site.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "agent_platform",
    "pricing",
    "agents_app",
    "caching",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "agent_platform.urls"
WSGI_APPLICATION = "agent_platform.wsgi.application"

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
            ],
        },
    },
]

# SQLite under DATA_DIR unless DATABASE_URL is set (PostgreSQL in production).
DB_POOL_SIZE = envint("DB_POOL_SIZE", 10)  # PostgreSQL connections per process; 0 turns the pool off
DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=envint("DB_CONN_MAX_AGE", 60 if PRODUCTION else 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers (hundreds of threads each) and the web process share the file: WAL lets readers run beside
    # the one writer, IMMEDIATE takes the write lock when a transaction starts (no upgrade deadlock), and
    # the busy timeout makes a writer wait its turn instead of raising "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": envint("SQLITE_BUSY_TIMEOUT", 30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A SQLite connection is a file handle, not a server's: each thread keeps its own rather than opening
    # one (and registering Django's SQL functions on it) for every task.
    DATABASES["default"]["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", 600)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL_SIZE > 0:
    # Django's own connection pool (psycopg_pool), one per process: a worker's hundreds of threads share
    # DB_POOL_SIZE connections, borrowed for a query and given back between queries (the invocation service
    # returns its connection for the length of the model call). A pool replaces persistent connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_SIZE,
        "timeout": envint("DB_POOL_TIMEOUT", 30),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Admin logins: django-axes counts failures per client address (tenancy.client_address, which honours
# NUM_PROXIES) and refuses every login from it, the right password too, for a cool-off once it has too many.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("ADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("ADMIN_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "agent_platform.tenancy.client_address"
AXES_RESET_ON_SUCCESS = True
# Proxies in front of the web server that append the client's address to X-Forwarded-For (0: none; the
# address is the connection's). Rate limits and lockouts are per client address.
NUM_PROXIES = envint("NUM_PROXIES", 0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request size: an import of a few hundred agents fits; anything larger is refused with 413/400.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
AGENT_IMPORT_MAX_AGENTS = envint("AGENT_IMPORT_MAX_AGENTS", 500)

# --- Cache: the API's rate-limit counters, shared by every web process ---
# Redis when REDIS_URL is set (production); otherwise a table of the database, created by `migrate`, which
# every process of the embedded default reaches (agent_platform.throttling counts in it atomically).
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "agent-platform",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
            # A counter lives for its window; a day is DRF's longest. Culling would drop live counters.
            "TIMEOUT": 24 * 3600,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# --- Security (production defaults; `check --deploy` passes with them) ---
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if envbool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health check must answer plain HTTP inside the compose network.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^metrics$"]

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["agent_platform.tenancy.TenantAPIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["agent_platform.tenancy.TenantRolePermission"],
    # JSON out encoded by orjson, as DRF would write it (agent_platform.renderers).
    "DEFAULT_RENDERER_CLASSES": [
        "agent_platform.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # JSON with size and depth limits (agent_platform.parsers); forms and multipart as DRF reads them.
    "DEFAULT_PARSER_CLASSES": [
        "agent_platform.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": envint("API_PAGE_SIZE", 50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "agent_platform.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {
        "invocations": envstr("THROTTLE_INVOCATIONS", "120/min"),
        "imports": envstr("THROTTLE_IMPORTS", "10/min"),
        "deploys": envstr("THROTTLE_DEPLOYS", "30/min"),
        # Failed API keys per client address; past it, every key from the address waits out the window.
        "auth_failures": envstr("THROTTLE_AUTH_FAILURES", "20/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,
}
API_KEY_CUSTOM_HEADER = "HTTP_AUTHORIZATION"

SPECTACULAR_SETTINGS = {
    "TITLE": "Agent Platform API",
    "DESCRIPTION": "Agents on Amazon Bedrock with prompt caching: catalog, agents, invocations and cache statistics. "
    "Authenticate with `Authorization: Api-Key <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "agent_platform.schema.add_error_responses",
        "agent_platform.schema.strict_request_bodies",
        "agents_app.schema.catalog_model_ids",
    ],
}

# --- Celery ---
# A real broker (Redis) when configured; otherwise kombu's SQLAlchemy transport
# on a SQLite file, so a real worker and beat run with no server at all.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL") or REDIS_URL or f"sqla+sqlite:///{DATA_DIR / 'broker.sqlite3'}"
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis redelivers an unacknowledged task after this many seconds (a killed worker's task).
    # Only Redis takes the option: the SQLAlchemy transport would hand it to create_engine.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A model call is seconds of waiting on the network, so a worker keeps many in flight on a pool of threads
# (README, "Execution model"). The setting wins over `--pool prefork` on the command line (Celery takes that
# for its default), so run a prefork worker with WORKER_POOL=prefork.
CELERY_WORKER_POOL = envchoice("WORKER_POOL", "threads", ("threads", "prefork", "solo"))
# Threads per worker process (prefork: child processes; unset, one per CPU).
CELERY_WORKER_CONCURRENCY = envint("WORKER_CONCURRENCY", 200 if CELERY_WORKER_POOL == "threads" else 0) or None
# Housekeeping (the sweeper, deploys, rollups, reports) has a queue of its own, so it is not stuck
# behind a backlog of invocations; a worker started without -Q consumes both.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (
    Queue("celery", Exchange("celery"), routing_key="celery"),
    Queue("maintenance", Exchange("celery"), routing_key="maintenance"),
)
CELERY_TASK_ROUTES = {
    "agents_app.tasks.invocations_requeue_stale": {"queue": "maintenance"},
    "agents_app.tasks.deployment_run": {"queue": "maintenance"},
    "caching.tasks.*": {"queue": "maintenance"},
    "alerts.tasks.*": {"queue": "maintenance"},
    "agents_app.tasks.invocation_contents_purge": {"queue": "maintenance"},
    "agents_app.tasks.invocation_partitions_ensure": {"queue": "maintenance"},
}
CELERY_TIMEZONE = TIME_ZONE

# --- Bedrock and deployment ---
AWS_REGION = envstr("AWS_REGION", "us-east-1")
# Unset in production to talk to real Bedrock; the embedded default is the local emulator.
AWS_ENDPOINT_URL_BEDROCK_RUNTIME = envstr(
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "" if PRODUCTION else "http://127.0.0.1:8765"
)
# Bedrock's control plane (boto3 "bedrock"): the local emulator serves it too, for inference profiles.
AWS_ENDPOINT_URL_BEDROCK = envstr("AWS_ENDPOINT_URL_BEDROCK", AWS_ENDPOINT_URL_BEDROCK_RUNTIME)
# One application inference profile per tenant and model, tagged with the tenant, made by the deployer; model calls
# then use its ARN, so Cost Explorer and the Cost and Usage Report split Bedrock's bill by tenant.
BEDROCK_TENANT_INFERENCE_PROFILES = envbool("BEDROCK_TENANT_INFERENCE_PROFILES", False)
# Profile names are `<prefix>-t<tenant id>-<model>`: one prefix per installation sharing an AWS account.
BEDROCK_INFERENCE_PROFILE_PREFIX = envstr("BEDROCK_INFERENCE_PROFILE_PREFIX", "agent-platform")
if not re.fullmatch(r"[0-9a-zA-Z]([_-]?[0-9a-zA-Z]){0,19}", BEDROCK_INFERENCE_PROFILE_PREFIX):
    raise ImproperlyConfigured(
        "BEDROCK_INFERENCE_PROFILE_PREFIX must be 1-20 letters and digits, single - or _ between them"
    )
DEPLOY_BACKEND = envchoice("DEPLOY_BACKEND", "local", ("local", "agentcore"))
# The deployment_run task pushes each new AGENT_CONFIG_JSON through DEPLOY_BACKEND's deployer (agents_app.deployers).
DEPLOY_MAX_ATTEMPTS = envint("DEPLOY_MAX_ATTEMPTS", 5)  # a failing deploy is tried this often, then marked failed
DEPLOY_RETRY_BACKOFF = envint("DEPLOY_RETRY_BACKOFF", 5)  # seconds before the first retry, doubled each attempt
DEPLOY_TIME_LIMIT = envint("DEPLOY_TIME_LIMIT", 900)  # seconds one attempt may take, waiting for READY included
# A deployment "deploying" for longer than this was left by a dead worker: a newer version may go ahead.
DEPLOY_LEASE_SECONDS = envint("DEPLOY_LEASE_SECONDS", DEPLOY_TIME_LIMIT + 60)
# The agentcore backend: one AgentCore Runtime per agent, named <prefix>_t<tenant id>_a<agent id>.
AGENTCORE_ROLE_ARN = envstr("AGENTCORE_ROLE_ARN")  # the runtimes' execution role (Bedrock access)
AGENTCORE_CONTAINER_URI = envstr("AGENTCORE_CONTAINER_URI")  # ECR image of agents_app/runtime/Dockerfile
AGENTCORE_RUNTIME_PREFIX = envstr("AGENTCORE_RUNTIME_PREFIX", "agent_platform")
AGENTCORE_NETWORK_MODE = envstr("AGENTCORE_NETWORK_MODE", "PUBLIC")
AGENTCORE_QUALIFIER = envstr("AGENTCORE_QUALIFIER", "DEFAULT")  # the runtime endpoint invocations go to
AGENTCORE_POLL_INTERVAL = envint("AGENTCORE_POLL_INTERVAL", 5)  # seconds between get_agent_runtime polls
AGENTCORE_READY_TIMEOUT = envint("AGENTCORE_READY_TIMEOUT", 600)  # seconds a deploy waits for READY
# Endpoint overrides (tests point them at moto's server); empty means boto3's own, which also reads
# AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL and AWS_ENDPOINT_URL_BEDROCK_AGENTCORE.
AGENTCORE_CONTROL_ENDPOINT_URL = envstr("AGENTCORE_CONTROL_ENDPOINT_URL")
AGENTCORE_ENDPOINT_URL = envstr("AGENTCORE_ENDPOINT_URL")
if DEPLOY_BACKEND == "agentcore" and not (AGENTCORE_ROLE_ARN and AGENTCORE_CONTAINER_URI):
    raise ImproperlyConfigured("DEPLOY_BACKEND=agentcore needs AGENTCORE_ROLE_ARN and AGENTCORE_CONTAINER_URI")

# --- Invocations ---
# Seconds one attempt's model calls may take; the turn is cancelled then, in code, whatever the pool.
INVOCATION_TIME_LIMIT = envint("INVOCATION_TIME_LIMIT", 300)
# A worker renews its session's lease every HEARTBEAT seconds while the turn runs, so only a dead worker's
# lease lapses, within LEASE seconds of its death; then another worker takes the turn over.
INVOCATION_LEASE_SECONDS = envint("INVOCATION_LEASE_SECONDS", 30)
INVOCATION_LEASE_HEARTBEAT = envint("INVOCATION_LEASE_HEARTBEAT", 10)
if not 0 < INVOCATION_LEASE_HEARTBEAT < INVOCATION_LEASE_SECONDS:
    raise ImproperlyConfigured("INVOCATION_LEASE_HEARTBEAT must be above 0 and below INVOCATION_LEASE_SECONDS")
INVOCATION_MAX_ATTEMPTS = envint("INVOCATION_MAX_ATTEMPTS", 5)  # throttling and 5xx are retried up to this
INVOCATION_RETRY_BACKOFF = envint("INVOCATION_RETRY_BACKOFF", 2)  # seconds, doubled each attempt
MAX_PROMPT_CHARS = envint("MAX_PROMPT_CHARS", 100_000)
# Queued invocations whose task was last sent longer ago than this are sent again (a lost message); a running
# one whose lease lapsed (a dead worker) is sent again at once.
INVOCATION_REQUEUE_AFTER = envint("INVOCATION_REQUEUE_AFTER", 120)
# Days an invocation's prompt and response (and an idle session's conversation) are kept; 0 keeps them.
# Its figures (tokens, costs, status, times) are kept for reporting whatever this says.
INVOCATION_CONTENT_RETENTION_DAYS = envint("INVOCATION_CONTENT_RETENTION_DAYS", 0)
if INVOCATION_CONTENT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("INVOCATION_CONTENT_RETENTION_DAYS must be 0 (keep) or a number of days")

# --- Cache reporting ---
CACHE_STATS_MAX_DAYS = envint("CACHE_STATS_MAX_DAYS", 366)  # longest from/to range /cache-stats accepts
CACHE_REPORT_CADENCE_DAYS = envint("CACHE_REPORT_CADENCE_DAYS", 7)  # a tenant's report covers this many days
# Bearer token for /metrics; without one the endpoint is open in development and hidden in production.
METRICS_TOKEN = envstr("METRICS_TOKEN")

# --- Alerts ---
# Each alert message (email, webhook) is sent by a task of its own, tried this often with backoff, then marked failed.
ALERT_DELIVERY_MAX_ATTEMPTS = envint("ALERT_DELIVERY_MAX_ATTEMPTS", 5)
ALERT_DELIVERY_RETRY_BACKOFF = envint("ALERT_DELIVERY_RETRY_BACKOFF", 30)  # seconds, doubled each attempt
ALERT_WEBHOOK_TIMEOUT = envint("ALERT_WEBHOOK_TIMEOUT", 10)  # seconds a webhook may take to answer

# --- Email (console in the embedded default) ---
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "agent-platform@localhost")

# --- OpenTelemetry (agent_platform/telemetry.py) ---
# The SDK reads the standard OTEL_* variables itself; these are checked here so a bad value stops start-up.
# Tracing is off unless an exporter is named or an OTLP endpoint is set; only OTLP over HTTP is installed.
TRACE_EXPORTER_NAMES = ("otlp", "console")
TRACING_EXPORTERS: tuple[str, ...] = ()
if not envbool("OTEL_SDK_DISABLED", False):
    _named = [name.lower() for name in envlist("OTEL_TRACES_EXPORTER", [])]
    if not _named and (envstr("OTEL_EXPORTER_OTLP_ENDPOINT") or envstr("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        _named = ["otlp"]
    for _name in _named:
        if _name not in (*TRACE_EXPORTER_NAMES, "none"):
            raise ImproperlyConfigured(f"OTEL_TRACES_EXPORTER: {_name!r} is not one of otlp, console, none")
    TRACING_EXPORTERS = tuple(name for name in _named if name != "none")
_protocol = envstr("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or envstr("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
if "otlp" in TRACING_EXPORTERS and _protocol != "http/protobuf":
    raise ImproperlyConfigured(f"OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported, not {_protocol!r}")
# Prompts, responses, system prompts and tool input/output leave the process in spans only when this is true.
TRACE_MESSAGE_CONTENT = envbool("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", False)

# Plain lines, or one JSON object per record with the tenant, agent, session and invocation ids (see logs.py).
LOG_FORMAT = envchoice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = logging_config(LOG_FORMAT, envstr("LOG_LEVEL", "INFO"))
# Celery's worker replaces the root logger's handlers with its own plain ones unless told not to.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT == "text"
