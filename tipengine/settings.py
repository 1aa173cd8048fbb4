"""Django settings for tipengine, read from the environment (see .env.example)."""

import os
from datetime import timedelta
from pathlib import Path

from corsheaders.defaults import default_headers as default_cors_headers
from django.core.exceptions import ImproperlyConfigured

from tipengine.client_ip import proxy_networks
from tipengine.env import env_bool, env_database, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)
# The embedded default (make run) sets DEBUG=1; without it every secret must come from the environment.
# `python -m tipengine.generate_secrets` prints fresh SECRET_KEY and TOKEN_ENCRYPTION_KEYS lines for a .env file.
_secrets_hint = "`python -m tipengine.generate_secrets` prints fresh values"
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"Set the SECRET_KEY environment variable (required when DEBUG is off; {_secrets_hint})."
        )
    SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production-" + "x" * 16
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("Set the ALLOWED_HOSTS environment variable (required when DEBUG is off).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# A browser frontend on another origin may call the API (docs/api.md, "CORS"); none is allowed unless listed.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_HEADERS = (*default_cors_headers, "idempotency-key")
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Request-ID"]  # browser code reads them (429/503 waits, log ids)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_guid",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served by us: /api/docs/ works offline and without a CDN
    "axes",  # admin login brute-force protection (ADR 0066)
    "tipengine",
    "integrations",
    "generation",
    "recommender",
]

MIDDLEWARE = [
    # /healthz and /metrics answer before host validation and the HTTPS redirect: probes and scrapers call the
    # process by its own address (tipengine/health.py).
    "tipengine.health.ProbeMiddleware",
    "django_guid.middleware.guid_middleware",  # the request id: X-Request-ID in and out, on every log line
    "tipengine.monitoring.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tipengine.unavailable.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

if not DEBUG:
    # Serves the admin's collected static files under gunicorn; runserver serves them itself in DEBUG.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "tipengine.urls"
WSGI_APPLICATION = "tipengine.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- database ---
# PostgreSQL only (ADR 0060). Unset DATABASE_URL: the embedded server whose data lives in var/postgres (or
# EMBEDDED_PGDATA), started on the first connection and left running for the next command to attach to.
if env_str("DATABASE_URL"):
    DATABASES = {"default": env_database("DATABASE_URL")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "tipengine.embedded_db",
            "NAME": "tipengine",
            "USER": "postgres",
            "PGDATA": env_str("EMBEDDED_PGDATA", str(VAR_DIR / "postgres")),
        }
    }
# psycopg 3's pool replaces persistent connections (CONN_MAX_AGE must stay 0 with it).
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Parameters travel apart from the SQL, and a statement run DB_PREPARE_THRESHOLD times on a connection is
# prepared: PostgreSQL stops parsing and planning the serving and feedback writes (ADR 0058). Set 0 behind a
# pooler in transaction mode that does not track prepared statements.
prepare_threshold = env_int("DB_PREPARE_THRESHOLD", 5)
DATABASES["default"]["OPTIONS"] = {
    **DATABASES["default"].get("OPTIONS", {}),
    "server_side_binding": True,
    "prepare_threshold": prepare_threshold if prepare_threshold > 0 else None,
    "pool": {
        "min_size": env_int("DB_POOL_MIN", 1),
        "max_size": env_int("DB_POOL_MAX", 10),
        "timeout": env_float("DB_POOL_TIMEOUT_S", 2.0, low=0.1),
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A stopped or unreachable PostgreSQL costs a request at most DB_POOL_TIMEOUT_S, then a 503 with Retry-After
# (tipengine/unavailable.py, ADR 0064); the pool reconnects on its own when the server is back.
DB_CONNECT_TIMEOUT_S = env_int("DB_CONNECT_TIMEOUT_S", 2)  # libpq's minimum is 2 s
DB_UNAVAILABLE_RETRY_AFTER_S = env_int("DB_UNAVAILABLE_RETRY_AFTER_S", 5)
DB_UNAVAILABLE_SKIP_S = env_float("DB_UNAVAILABLE_SKIP_S", 1.0, low=0.0)  # answer 503 at once this long after one
DATABASES["default"]["OPTIONS"]["connect_timeout"] = DB_CONNECT_TIMEOUT_S

# --- cache, broker, background work (tipengine/settings_tasks.py) ---
from tipengine.settings_tasks import *  # noqa: E402, F403
from tipengine.settings_tasks import CELERY_BEAT_SCHEDULE  # noqa: E402  (extended below)

# --- auth and the API ---
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Admin (and any password) login: django-axes locks a username from an address after AXES_FAILURE_LIMIT failures
# for AXES_COOLOFF_MINUTES; a success resets the count (ADR 0066). The API uses tokens, which never pass here.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("AXES_COOLOFF_MINUTES", 15.0, low=0.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Behind a reverse proxy every peer is the proxy: the lockout's address is the client's only when the peer is one
# of TRUSTED_PROXIES (addresses or CIDR networks), which then names it in X-Forwarded-For (tipengine/client_ip.py).
TRUSTED_PROXIES = proxy_networks("TRUSTED_PROXIES", env_list("TRUSTED_PROXIES", []))
AXES_CLIENT_IP_CALLABLE = "tipengine.client_ip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Requests per user for each throttled view (DRF rates: N/second|minute|hour|day), counted in the cache; a
# throttled call answers 429 with Retry-After before it does any work (tipengine/throttles.py).
API_THROTTLE_RATES = {
    "tips": env_str("THROTTLE_TIPS_RATE", "60/min"),
    "feedback": env_str("THROTTLE_FEEDBACK_RATE", "120/min"),
    "history": env_str("THROTTLE_HISTORY_RATE", "60/min"),
}

# Token -> user is cached this long; a deleted token or deactivated user is forgotten at once (tipengine/auth.py).
TOKEN_AUTH_CACHE_S = env_int("TOKEN_AUTH_CACHE_S", 300)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tipengine.auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["tipengine.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "tipengine.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 20,
    # tipengine.errors' handler, with database outages answered 503 (tipengine/unavailable.py)
    "DEFAULT_THROTTLE_CLASSES": ["tipengine.throttles.UserScopeThrottle"],  # views name a throttle_scope
    "EXCEPTION_HANDLER": "tipengine.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "tipengine API",
    "DESCRIPTION": "Productivity tips recommended from your Todoist tasks.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The one error shape as the `Error` component, and each operation's error answers (tipengine/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tipengine.schema.add_error_responses",
    ],
}

# --- internationalisation and static files ---
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(VAR_DIR / "static"))
# One storage whatever DEBUG says, so `collectstatic` writes the hashed names and the manifest (staticfiles.json)
# that DEBUG=0 serves through WhiteNoise; with DEBUG=1 the unhashed names are used and runserver finds the files.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- security (production values when DEBUG is off; `manage.py check --deploy` is clean) ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^readyz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- logs and metrics (tipengine/settings_logging.py) ---
from tipengine.settings_logging import *  # noqa: E402, F403

# --- tips ---
TIPS_EPSILON = env_float("TIPS_EPSILON", 0.1, low=0.0, high=1.0)
TIPS_REQUEST_BUDGET_S = env_float("TIPS_REQUEST_BUDGET_S", 2.0, low=0.0)
TIPS_REWARD_WINDOW_H = env_float("TIPS_REWARD_WINDOW_H", 24.0, low=0.0)
TIPS_POLICY = env_str("TIPS_POLICY", "egreedy")  # one of recommender.policies.POLICIES (a system check says so)

# --- integrations ---
TODOIST_API_URL = env_str("TODOIST_API_URL", "https://api.todoist.com/api/v1")
TODOIST_OAUTH_URL = env_str("TODOIST_OAUTH_URL", "https://todoist.com/oauth")
TODOIST_CLIENT_ID = env_str("TODOIST_CLIENT_ID", "")
TODOIST_CLIENT_SECRET = env_str("TODOIST_CLIENT_SECRET", "")
TOKEN_ENCRYPTION_KEYS = env_list("TOKEN_ENCRYPTION_KEYS", [])
if not TOKEN_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        f"Set TOKEN_ENCRYPTION_KEYS (comma-separated Fernet keys) when DEBUG is off; {_secrets_hint}."
    )
# One Todoist operation (all pages and retries) never runs past TODOIST_BUDGET_S; see docs/integrations.md.
TODOIST_TIMEOUT_S = env_float("TODOIST_TIMEOUT_S", 5.0, low=0.01)
TODOIST_BUDGET_S = env_float("TODOIST_BUDGET_S", 10.0, low=0.01)
TODOIST_MAX_RETRY_AFTER_S = env_float("TODOIST_MAX_RETRY_AFTER_S", 5.0, low=0.0)
TODOIST_MAX_ATTEMPTS = env_int("TODOIST_MAX_ATTEMPTS", 4)
TODOIST_BACKOFF_BASE_S = env_float("TODOIST_BACKOFF_BASE_S", 0.25, low=0.0)
TODOIST_TASKS_CACHE_S = env_int("TODOIST_TASKS_CACHE_S", 60)  # open tasks are served from cache this long
TODOIST_FAILURE_CACHE_S = env_int("TODOIST_FAILURE_CACHE_S", 30)  # a failed read is not retried sooner
TODOIST_OAUTH_STATE_MAX_AGE_S = env_int("TODOIST_OAUTH_STATE_MAX_AGE_S", 600)
TODOIST_OAUTH_SCOPES = env_list("TODOIST_OAUTH_SCOPES", ["data:read"])
TODOIST_WEBHOOK_RETENTION_DAYS = env_int("TODOIST_WEBHOOK_RETENTION_DAYS", 30)
TODOIST_CONNECT_RATE = env_str("TODOIST_CONNECT_RATE", "30/hour")  # connect attempts per user (DRF rate)
CELERY_BEAT_SCHEDULE.update(
    {
        "integrations-reverify-tokens": {"task": "integrations.tasks.verify_all_integrations", "schedule": 86400.0},
        "integrations-verify-pending": {"task": "integrations.tasks.verify_pending_integrations", "schedule": 900.0},
        "integrations-pull-completions": {"task": "integrations.tasks.pull_all_completions", "schedule": 600.0},
        "integrations-prune-webhooks": {"task": "integrations.tasks.prune_webhook_deliveries", "schedule": 86400.0},
    }
)

# --- generation ---
# litellm otherwise downloads its cost map from the internet at import time.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
LITELLM_URL = env_str("LITELLM_URL", "")
LITELLM_MASTER_KEY = env_str("LITELLM_MASTER_KEY", "")
OLLAMA_URL = env_str("OLLAMA_URL", "http://127.0.0.1:11434")
LITELLM_CONFIG_PATH = env_str("LITELLM_CONFIG_PATH", str(BASE_DIR / "infra" / "litellm" / "litellm_config.yaml"))
# Background generation (Celery) budget for all attempts of one pool refresh; requests use TIPS_REQUEST_BUDGET_S.
GENERATION_TIMEOUT_S = env_float("GENERATION_TIMEOUT_S", 30.0, low=0.1)
GENERATION_POOL_TTL_S = env_int("GENERATION_POOL_TTL_S", 6 * 3600)  # also capped at the user's local midnight
GENERATION_MAX_TIPS = env_int("GENERATION_MAX_TIPS", 6)
GENERATION_CONTEXT_MAX_TASKS = env_int("GENERATION_CONTEXT_MAX_TASKS", 30)
GENERATION_CONTEXT_MAX_CHARS = env_int("GENERATION_CONTEXT_MAX_CHARS", 6000)
# Circuit breaker (state in the cache, shared by every process): N failures within the window open it.
GENERATION_BREAKER_THRESHOLD = env_int("GENERATION_BREAKER_THRESHOLD", 3)
GENERATION_BREAKER_WINDOW_S = env_float("GENERATION_BREAKER_WINDOW_S", 60.0, low=1.0)
GENERATION_BREAKER_COOLDOWN_S = env_float("GENERATION_BREAKER_COOLDOWN_S", 60.0, low=1.0)
# Beat refreshes the pools of users served in the last GENERATION_ACTIVE_DAYS before they expire.
GENERATION_REFRESH_AHEAD_S = env_int("GENERATION_REFRESH_AHEAD_S", 1800)
GENERATION_ACTIVE_DAYS = env_int("GENERATION_ACTIVE_DAYS", 7)
GENERATION_REFRESH_BATCH = env_int("GENERATION_REFRESH_BATCH", 1000)
CELERY_BEAT_SCHEDULE["recommender.refresh_expiring_pools"] = {
    "task": "recommender.refresh_expiring_pools",
    "schedule": GENERATION_REFRESH_AHEAD_S / 2,
}

# --- recommender ---
# Feedback and learning (docs/feedback.md): how often beat closes expired reward windows, and the batch size.
TIPS_FINALIZE_INTERVAL_S = env_float("TIPS_FINALIZE_INTERVAL_S", 300.0, low=1.0)
TIPS_FINALIZE_BATCH_SIZE = env_int("TIPS_FINALIZE_BATCH_SIZE", 500)
CELERY_BEAT_SCHEDULE["recommender.finalize_rewards"] = {
    "task": "recommender.finalize_rewards",
    "schedule": TIPS_FINALIZE_INTERVAL_S,
}
# The admin's daily rollup of final days (docs/adr/0099): a day becomes final once a day; a late run only means
# more days read live, never wrong figures.
CELERY_BEAT_SCHEDULE["recommender.refresh_tip_score_days"] = {
    "task": "recommender.refresh_tip_score_days",
    "schedule": 900.0,
}

# --- recommender: serving ---
# Worker threads for request-time LLM calls (only when a user has no fresh pool); per process.
TIPS_LLM_WORKERS = env_int("TIPS_LLM_WORKERS", 4)
# Pseudo-count of the global arm mean in each user's estimate (docs/recommender.md, "Shrinkage").
TIPS_SHRINKAGE_STRENGTH = env_float("TIPS_SHRINKAGE_STRENGTH", 10.0, low=0.0)
# A dismissed or snoozed tip (same kind and tasks) is not served again within its cool-down.
TIPS_COOLDOWN_DISMISSED_H = env_float("TIPS_COOLDOWN_DISMISSED_H", 72.0, low=0.0)
TIPS_COOLDOWN_SNOOZED_H = env_float("TIPS_COOLDOWN_SNOOZED_H", 4.0, low=0.0)
TIPS_SNOOZE_MAX_H = env_float("TIPS_SNOOZE_MAX_H", 168.0, low=0.0)  # how far back a snooze `until` is honoured
# What serving reads per user (cool-downs, arm statistics) is cached this long; the writes that change it
# forget it at once (recommender/cache_keys.py). The global arm statistics move with every final reward, so
# they are only cached briefly and never forgotten: an estimate a few seconds old is still an estimate.
TIPS_USER_STATE_CACHE_S = env_int("TIPS_USER_STATE_CACHE_S", 300)
TIPS_GLOBAL_ARMS_CACHE_S = env_int("TIPS_GLOBAL_ARMS_CACHE_S", 10)

# --- recommender: the contextual loop (docs/recommender.md, "The contextual loop") ---
# Beat trains a new model version from the rewards finalized since the last one; processes reload the
# serving model this often (on a background thread, never on a request).
TIPS_MODEL_TRAIN_INTERVAL_S = env_float("TIPS_MODEL_TRAIN_INTERVAL_S", 3600.0, low=1.0)
TIPS_MODEL_RELOAD_S = env_float("TIPS_MODEL_RELOAD_S", 60.0, low=1.0)
TIPS_MODEL_RELOADER = env_bool("TIPS_MODEL_RELOADER", True)  # off only where a test reloads by hand
# Apprentice mode: the newest model, while not promoted, scores every serve in shadow (logged, counted).
TIPS_SHADOW_SCORING = env_bool("TIPS_SHADOW_SCORING", True)
# Promotion needs this many held-out logged picks and a paired interval above zero (or a recorded override).
TIPS_PROMOTION_MIN_ROWS = env_int("TIPS_PROMOTION_MIN_ROWS", 1000)
# Importance weights above this are clipped in the gate's doubly robust estimate: less variance, some bias. 20 kept
# the right verdict on 6 of 6 simulated models with the interval covering the truth in 4; 5 covered it in 3
# (docs/benchmarks.md, "Evaluating a contextual model against the truth").
TIPS_EVALUATION_CLIP = env_float("TIPS_EVALUATION_CLIP", 20.0, low=1.0)
CELERY_BEAT_SCHEDULE["recommender.train_policy_model"] = {
    "task": "recommender.train_policy_model",
    "schedule": TIPS_MODEL_TRAIN_INTERVAL_S,
}
