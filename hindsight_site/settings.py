"""Settings for the Hindsight-compatible memory server.

Every environment variable is read here and only here, through the typed readers in ``hindsight_site.env``; a
malformed value stops start-up with a message naming the variable. See the configuration table in README.md.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from banks import config_registry
from hindsight_site.env import (
    env_bool,
    env_int,
    env_list,
    env_path,
    env_profile,
    env_str,
    parse_database_url,
    unknown_hindsight_variables,
)
from hindsight_site.paths import ProfilePaths

BASE_DIR = Path(__file__).resolve().parent.parent

# --- where the data lives -------------------------------------------------------------------------------------
HINDSIGHT_HOME = env_path("HINDSIGHT_HOME", Path("~/.hindsight"))
HINDSIGHT_PROFILE = env_profile("HINDSIGHT_PROFILE", "default")
HINDSIGHT_PATHS = ProfilePaths(HINDSIGHT_HOME, HINDSIGHT_PROFILE)

HINDSIGHT_HOST = env_str("HINDSIGHT_HOST", "127.0.0.1")
HINDSIGHT_PORT = env_int("HINDSIGHT_PORT", 8888, minimum=1, maximum=65535)
# With no API key defined, a server listening beyond loopback refuses requests (and `serve` refuses to start)
# unless this says explicitly that it runs open (`serve --allow-open` sets it for its children).
HINDSIGHT_ALLOW_OPEN = env_bool("HINDSIGHT_ALLOW_OPEN", False)

# --- database and broker: given, or embedded in the profile folder ---------------------------------------------
_database_url = env_str("DATABASE_URL")
HINDSIGHT_EMBEDDED_DATABASE = _database_url is None
_database = parse_database_url(_database_url or HINDSIGHT_PATHS.embedded_database_url)
_database["OPTIONS"].setdefault("connect_timeout", "5")
DATABASES = {
    "default": {
        "ENGINE": "hindsight_site.db",
        **_database,
        "CONN_MAX_AGE": env_int("HINDSIGHT_DB_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": env_str("HINDSIGHT_TEST_DATABASE_NAME", f"test_{_database['NAME']}")},
    }
}

_broker_url = env_str("CELERY_BROKER_URL")
HINDSIGHT_EMBEDDED_BROKER = _broker_url is None
CELERY_BROKER_URL = _broker_url or HINDSIGHT_PATHS.embedded_broker_url
# Durable state lives in the operations table; the broker only carries wake-ups, so no result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The OS user that runs the embedded PostgreSQL when the server itself runs as root (PostgreSQL refuses root).
HINDSIGHT_EMBEDDED_DB_USER = env_str("HINDSIGHT_EMBEDDED_DB_USER", "hindsight")

# --- web server and worker ------------------------------------------------------------------------------------
HINDSIGHT_WEB_WORKERS = env_int("HINDSIGHT_WEB_WORKERS", 2, minimum=1, maximum=64)
HINDSIGHT_WEB_THREADS = env_int("HINDSIGHT_WEB_THREADS", 8, minimum=1, maximum=256)
HINDSIGHT_WORKER_CONCURRENCY = env_int("HINDSIGHT_WORKER_CONCURRENCY", 2, minimum=1, maximum=64)

# --- LLM: any litellm model string; unset (and no key) means the offline extractor and extractive reflect --------
HINDSIGHT_LLM_API_KEY = env_str("HINDSIGHT_LLM_API_KEY")
HINDSIGHT_LLM_BASE_URL = env_str("HINDSIGHT_LLM_BASE_URL")
# A key with no model means OpenAI's small model, as upstream defaults.
HINDSIGHT_LLM_MODEL = env_str("HINDSIGHT_LLM_MODEL", "openai/gpt-4o-mini" if HINDSIGHT_LLM_API_KEY else None)
HINDSIGHT_LLM_RETAIN_MODEL = env_str("HINDSIGHT_LLM_RETAIN_MODEL", HINDSIGHT_LLM_MODEL)
HINDSIGHT_LLM_REFLECT_MODEL = env_str("HINDSIGHT_LLM_REFLECT_MODEL", HINDSIGHT_LLM_MODEL)
HINDSIGHT_LLM_CONSOLIDATION_MODEL = env_str("HINDSIGHT_LLM_CONSOLIDATION_MODEL", HINDSIGHT_LLM_MODEL)
HINDSIGHT_LLM_TIMEOUT = env_int("HINDSIGHT_LLM_TIMEOUT", 120, minimum=1)
HINDSIGHT_LLM_MAX_RETRIES = env_int("HINDSIGHT_LLM_MAX_RETRIES", 3, minimum=0, maximum=10)
# Test support only: every model (``openai/gpt-4o-mini`` too) is answered by the scripted ``hindsight-test``
# provider, so documentation samples that name a hosted LLM run with no network. Never set in production.
HINDSIGHT_TEST_LLM_INTERCEPT = env_bool("HINDSIGHT_TEST_LLM_INTERCEPT", False)

# --- embeddings: local int8 ONNX MiniLM by default (no hub, no torch) -------------------------------------------
HINDSIGHT_EMBEDDINGS_PROVIDER = env_str("HINDSIGHT_EMBEDDINGS_PROVIDER", "local")
if HINDSIGHT_EMBEDDINGS_PROVIDER not in ("local", "sentence-transformers", "litellm"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "HINDSIGHT_EMBEDDINGS_PROVIDER must be local, sentence-transformers or litellm, "
        f"not {HINDSIGHT_EMBEDDINGS_PROVIDER!r}"
    )
HINDSIGHT_EMBEDDINGS_MODEL = env_str("HINDSIGHT_EMBEDDINGS_MODEL")

# --- recall reranking: none by default (offline); a cross-encoder or an LLM over the best fused candidates ---------
HINDSIGHT_RERANKER_PROVIDER = env_str("HINDSIGHT_RERANKER_PROVIDER", "none")
if HINDSIGHT_RERANKER_PROVIDER not in ("none", "sentence-transformers", "litellm"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "HINDSIGHT_RERANKER_PROVIDER must be none, sentence-transformers or litellm, "
        f"not {HINDSIGHT_RERANKER_PROVIDER!r}"
    )
HINDSIGHT_RERANKER_MODEL = env_str("HINDSIGHT_RERANKER_MODEL")
if HINDSIGHT_RERANKER_PROVIDER == "sentence-transformers" and not HINDSIGHT_RERANKER_MODEL:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "HINDSIGHT_RERANKER_PROVIDER=sentence-transformers needs HINDSIGHT_RERANKER_MODEL "
        "(a cross-encoder name or path)"
    )
HINDSIGHT_RERANKER_MAX_CANDIDATES = env_int("HINDSIGHT_RERANKER_MAX_CANDIDATES", 50, minimum=1, maximum=1000)
# The LLM reranker's model, through the one LLM door (purpose "rerank"); else HINDSIGHT_LLM_MODEL.
HINDSIGHT_LLM_RERANK_MODEL = HINDSIGHT_RERANKER_MODEL if HINDSIGHT_RERANKER_PROVIDER == "litellm" else None

# --- recall: in-process copies of large banks (memories/recall_index.py) -------------------------------------------
# A bank with at least this many units is copied into each web process that recalls from it.
HINDSIGHT_RECALL_INDEX_MIN_UNITS = env_int("HINDSIGHT_RECALL_INDEX_MIN_UNITS", 20_000, minimum=0)
# Units held per process across banks (about 2.5 kB each with 384-dimension embeddings); 0 turns the copies off.
HINDSIGHT_RECALL_INDEX_MAX_UNITS = env_int("HINDSIGHT_RECALL_INDEX_MAX_UNITS", 400_000, minimum=0)
# After a bank changes, its copy is rebuilt once 20 times its last build's duration has passed since that build
# began, or this many seconds if fewer (until then recall reads PostgreSQL).
HINDSIGHT_RECALL_INDEX_REBUILD_SECONDS = env_int("HINDSIGHT_RECALL_INDEX_REBUILD_SECONDS", 300, minimum=0)

# --- durable operations -------------------------------------------------------------------------------------------
HINDSIGHT_OPERATION_LEASE_SECONDS = env_int("HINDSIGHT_OPERATION_LEASE_SECONDS", 60, minimum=2)
HINDSIGHT_OPERATION_MAX_ATTEMPTS = env_int("HINDSIGHT_OPERATION_MAX_ATTEMPTS", 5, minimum=1, maximum=100)
HINDSIGHT_OPERATION_REDISPATCH_SECONDS = env_int("HINDSIGHT_OPERATION_REDISPATCH_SECONDS", 30, minimum=1)
HINDSIGHT_REAPER_INTERVAL_SECONDS = env_int("HINDSIGHT_REAPER_INTERVAL_SECONDS", 15, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "reap-operations": {
        "task": "memories.tasks.reap_operations",
        "schedule": float(HINDSIGHT_REAPER_INTERVAL_SECONDS),
    },
    # The recall index's change log (memories/recall_index.py) is trimmed once it is long.
    "prune-recall-changes": {"task": "memories.tasks.prune_recall_changes", "schedule": 3600.0},
}

# --- retain limits ------------------------------------------------------------------------------------------------
HINDSIGHT_RETAIN_MAX_ITEMS = env_int("HINDSIGHT_RETAIN_MAX_ITEMS", 1000, minimum=1)
HINDSIGHT_RETAIN_MAX_CONTENT_CHARS = env_int("HINDSIGHT_RETAIN_MAX_CONTENT_CHARS", 2_000_000, minimum=1000)
# A request body larger than this answers 413 before it is parsed. Django's 2.5 MB default would refuse a retain of
# one item well inside HINDSIGHT_RETAIN_MAX_CONTENT_CHARS, so the default holds several such items.
HINDSIGHT_MAX_REQUEST_BYTES = env_int("HINDSIGHT_MAX_REQUEST_BYTES", 64 * 1024 * 1024, minimum=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = HINDSIGHT_MAX_REQUEST_BYTES

# --- per-bank configuration: server-wide defaults (HINDSIGHT_API_<FIELD>) ---------------------------------------
try:
    HINDSIGHT_CONFIG_DEFAULTS = config_registry.read_env_defaults(os.environ)
except config_registry.ConfigValidationError as exc:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"{exc.field} {exc.message}") from None
HINDSIGHT_ENABLE_BANK_CONFIG_API = env_bool("HINDSIGHT_API_ENABLE_BANK_CONFIG_API", True)
# The per-bank LLM probe makes real provider calls; operators who pay per call may turn it off.
HINDSIGHT_ENABLE_BANK_LLM_HEALTH = env_bool("HINDSIGHT_API_ENABLE_BANK_LLM_HEALTH", True)

# --- control plane: the first superuser `serve` creates when no user exists (else a generated password) ----------
HINDSIGHT_ADMIN_PASSWORD = env_str("HINDSIGHT_ADMIN_PASSWORD")

# --- Django core ----------------------------------------------------------------------------------------------
DEBUG = env_bool("HINDSIGHT_DEBUG", False)


def _secret_key() -> str:
    """The configured key, else the profile's persisted key (written by ``serve``), else a throw-away one."""
    configured = env_str("HINDSIGHT_SECRET_KEY")
    if configured:
        return configured
    try:
        return HINDSIGHT_PATHS.secret_key_file.read_text().strip()
    except OSError:
        return secrets.token_urlsafe(50)


SECRET_KEY = _secret_key()

_loopback = ["127.0.0.1", "localhost", "[::1]", "::1"]
_all_interfaces = HINDSIGHT_HOST in ("0.0.0.0", "::")  # noqa: S104 - a comparison, not a bind
_default_hosts = ["*"] if _all_interfaces else sorted({*_loopback, HINDSIGHT_HOST})
ALLOWED_HOSTS = env_list("HINDSIGHT_ALLOWED_HOSTS", _default_hosts)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "hindsight_site",
    "banks",
    "memories",
    "directives",
    "apikeys",
]

MIDDLEWARE = [
    "hindsight_site.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "hindsight_site.middleware.ControlPlaneLoginRequiredMiddleware",
]

ROOT_URLCONF = "hindsight_site.urls"
WSGI_APPLICATION = "hindsight_site.wsgi.application"
ASGI_APPLICATION = "hindsight_site.asgi.application"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "control-banks"
LOGOUT_REDIRECT_URL = "login"

# API paths carry no trailing slash (the contract's routes); never redirect them.
APPEND_SLASH = False

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve static files straight from the apps' folders: no collectstatic step before `serve`.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["hindsight_site.api.parsers.UnicodeJSONParser"],
    # API keys (apikeys/api/authentication.py): one authentication class and one permission for every route.
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apikeys.api.authentication.ApiKeyPermission"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "hindsight_site.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Hindsight-compatible memory server",
    "DESCRIPTION": "The REST API of this server: wire-compatible with Hindsight's 1.1.0 contract, plus the additions "
    'its descriptions mark. Every error answers `{"detail": ...}`.',
    "VERSION": "1.1.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /openapi.json and /docs go through the API-key check like every API view; they are among its public routes
    # (a browser opening the docs page sends no key, and the document holds no bank data).
    "SERVE_AUTHENTICATION": ["apikeys.api.authentication.ApiKeyAuthentication"],
    "SERVE_PERMISSIONS": ["apikeys.api.authentication.ApiKeyPermission"],
    # Swagger UI from the drf-spectacular-sidecar package, served by whitenoise: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"PromptSettingKindEnum": ["text", "boolean", "choice", "complex"]},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "hindsight_site.openapi.add_error_responses",
    ],
}

LOG_LEVEL = (env_str("HINDSIGHT_LOG_LEVEL", "INFO") or "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- unknown HINDSIGHT_* variables: a typo here is how data silently goes to the wrong place -----------------------
_KNOWN_VARIABLES = {
    "HINDSIGHT_HOME",
    "HINDSIGHT_PROFILE",
    "HINDSIGHT_HOST",
    "HINDSIGHT_PORT",
    "HINDSIGHT_ALLOW_OPEN",
    "HINDSIGHT_SECRET_KEY",
    "HINDSIGHT_DEBUG",
    "HINDSIGHT_ALLOWED_HOSTS",
    "HINDSIGHT_LOG_LEVEL",
    "HINDSIGHT_DB_CONN_MAX_AGE",
    "HINDSIGHT_EMBEDDED_DB_USER",
    "HINDSIGHT_WEB_WORKERS",
    "HINDSIGHT_WEB_THREADS",
    "HINDSIGHT_WORKER_CONCURRENCY",
    "HINDSIGHT_LLM_MODEL",
    "HINDSIGHT_LLM_API_KEY",
    "HINDSIGHT_LLM_BASE_URL",
    "HINDSIGHT_LLM_RETAIN_MODEL",
    "HINDSIGHT_LLM_REFLECT_MODEL",
    "HINDSIGHT_LLM_CONSOLIDATION_MODEL",
    "HINDSIGHT_LLM_TIMEOUT",
    "HINDSIGHT_LLM_MAX_RETRIES",
    "HINDSIGHT_EMBEDDINGS_PROVIDER",
    "HINDSIGHT_EMBEDDINGS_MODEL",
    "HINDSIGHT_RERANKER_PROVIDER",
    "HINDSIGHT_RERANKER_MODEL",
    "HINDSIGHT_RERANKER_MAX_CANDIDATES",
    "HINDSIGHT_RETAIN_MAX_ITEMS",
    "HINDSIGHT_RECALL_INDEX_MIN_UNITS",
    "HINDSIGHT_RECALL_INDEX_MAX_UNITS",
    "HINDSIGHT_RECALL_INDEX_REBUILD_SECONDS",
    "HINDSIGHT_OPERATION_LEASE_SECONDS",
    "HINDSIGHT_OPERATION_MAX_ATTEMPTS",
    "HINDSIGHT_OPERATION_REDISPATCH_SECONDS",
    "HINDSIGHT_REAPER_INTERVAL_SECONDS",
    "HINDSIGHT_RETAIN_MAX_CONTENT_CHARS",
    "HINDSIGHT_MAX_REQUEST_BYTES",
    "HINDSIGHT_API_ENABLE_BANK_CONFIG_API",
    "HINDSIGHT_API_ENABLE_BANK_LLM_HEALTH",
    "HINDSIGHT_TEST_DATABASE_NAME",
    "HINDSIGHT_ADMIN_PASSWORD",
    *config_registry.env_names(),
}
HINDSIGHT_UNKNOWN_VARIABLES = [
    name for name in unknown_hindsight_variables(os.environ, _KNOWN_VARIABLES) if not name.startswith("HINDSIGHT_TEST_")
]
