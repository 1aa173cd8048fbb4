"""Settings for logs and metrics (docs/operations.md), star-imported by settings.py."""

from tipengine.env import env_bool, env_choice, env_str

DEBUG = env_bool("DEBUG", False)  # the same reading as settings.DEBUG

# One JSON object per line (LOG_FORMAT=plain for reading by eye), each with the request id: X-Request-ID when
# the caller sends a UUID, else a fresh one; it is returned in the answer and carried into the Celery tasks the
# request queues (a message header: tipengine/request_id.py).
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", {"json", "plain"})
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,  # anything but a UUID is replaced, so a caller cannot write into our logs
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": False,  # its Access-Control-Expose-Headers would replace CORS_EXPOSE_HEADERS (settings.py)
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId", "correlation_id_field": "request_id"},
        "as_warning_without_traceback": {"()": "tipengine.log_filters.AsWarningWithoutTraceback"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "LiteLLM": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},  # it logs each id it sets at INFO
        "django.server": {"level": "WARNING"},  # runserver's own access line; tipengine.access logs each request
        # A bad Host header is the client's mistake: one WARNING line, not an ERROR with a traceback.
        "django.security.DisallowedHost": {"filters": ["as_warning_without_traceback"]},
        # The pool warns on every failed connect; an outage is logged once when it starts and ends instead
        # (tipengine/unavailable.py), and the pool's errors still come through.
        "psycopg.pool": {"level": "ERROR"},
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING too
# /metrics (web) and a Celery worker's exporter answer only `Authorization: Bearer <METRICS_TOKEN>`; unset: off.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
CELERY_METRICS_BIND = env_str("CELERY_METRICS_BIND", "")  # host:port of a worker's exporter; unset: none
