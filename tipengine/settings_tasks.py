"""Settings for the cache, the broker and background work (Celery, the outbox), star-imported by settings.py."""

from django.core.exceptions import ImproperlyConfigured

from tipengine.env import env_bool, env_choice, env_float, env_int, env_str

DEBUG = env_bool("DEBUG", False)  # the same reading as settings.DEBUG

# Availability (ADR 0064): short timeouts on Redis, and how long a failed cache server is skipped per process.
CACHE_SOCKET_TIMEOUT_S = env_float("CACHE_SOCKET_TIMEOUT_S", 0.25, low=0.01)
CACHE_RETRY_S = env_float("CACHE_RETRY_S", 2.0, low=0.0)
BROKER_SOCKET_TIMEOUT_S = env_float("BROKER_SOCKET_TIMEOUT_S", 1.0, low=0.01)
REDIS_URL = env_str("REDIS_URL", "")
if not REDIS_URL and not DEBUG:
    # Without Redis the cache is per process: under several gunicorn workers the LLM breaker, throttles, the
    # token cache's invalidation and the OAuth nonce would each be per process, and background work on threads.
    raise ImproperlyConfigured(
        "Set REDIS_URL (e.g. redis://127.0.0.1:6379/0) when DEBUG is off: without it the cache and the "
        "background work would be per process."
    )
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "tipengine.redis_cache.ReusingRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {  # Redis is a cache: a dead or frozen server costs one short timeout, then misses (ADR 0064)
                "socket_connect_timeout": CACHE_SOCKET_TIMEOUT_S,
                "socket_timeout": CACHE_SOCKET_TIMEOUT_S,
                "RETRY_S": CACHE_RETRY_S,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The Celery broker: Redis by default (REDIS_URL, which is also the cache). CELERY_BROKER_URL=amqp://... chooses
# RabbitMQ: it hands a killed worker's unacknowledged tasks to another worker at once, where Redis waits out its
# visibility timeout (ADR 0091, README "Production").
BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://")
_broker_url = env_str("CELERY_BROKER_URL", "") or REDIS_URL
if _broker_url and not _broker_url.startswith(BROKER_SCHEMES):
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL must start with redis://, rediss://, amqp:// or amqps:// (e.g. amqp://user:pw@rabbitmq//)."
    )
BROKER_IS_AMQP = _broker_url.startswith(("amqp://", "amqps://"))

# celery: a broker; thread: in-process daemon threads (embedded run); inline: synchronous (tests).
TASKS_MODE = env_choice("TASKS_MODE", "celery" if _broker_url else "thread", {"celery", "thread", "inline"})
if TASKS_MODE == "celery" and not _broker_url:
    raise ImproperlyConfigured("TASKS_MODE=celery needs a broker: REDIS_URL, or CELERY_BROKER_URL (amqp://...).")
CELERY_BROKER_URL = _broker_url or "memory://"
CELERY_TASK_ALWAYS_EAGER = TASKS_MODE != "celery"
CELERY_TASK_ACKS_LATE = True  # every task is idempotent (see docs/adr/0001-foundation.md)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task lost with its worker (SIGKILL, OOM, a lost host) comes back, on Redis, after the broker's visibility
# timeout; it must outlast the longest task, or a slow task would run twice (ADR 0065). RabbitMQ has no such
# timeout: it requeues a consumer's unacknowledged tasks when its connection closes (ADR 0091); its own
# consumer_timeout (30 min by default) must also stay above the hard limit.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT_S", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT_S", CELERY_TASK_TIME_LIMIT * 4 // 5)
CELERY_VISIBILITY_TIMEOUT_S = env_int("CELERY_VISIBILITY_TIMEOUT_S", 900)
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_VISIBILITY_TIMEOUT_S:
    raise ImproperlyConfigured(
        "Celery needs CELERY_TASK_SOFT_TIME_LIMIT_S < CELERY_TASK_TIME_LIMIT_S < CELERY_VISIBILITY_TIMEOUT_S."
    )
# A request that enqueues must not hang on a dead or frozen broker: it falls back to the outbox.
_broker_read_timeout_s = max(BROKER_SOCKET_TIMEOUT_S, 5.0)  # above the Redis workers' 1 s BRPOP
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object]
if BROKER_IS_AMQP:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A publish returns once RabbitMQ holds the message, so one it drops is an error and goes to the outbox.
        "confirm_publish": True,
        "read_timeout": _broker_read_timeout_s,
        "write_timeout": _broker_read_timeout_s,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S,
        # Workers look for such lost tasks every 10 s (kombu's default sweep runs every ~100 s).
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_S,
        "socket_timeout": _broker_read_timeout_s,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_SOCKET_TIMEOUT_S
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# LLM refreshes run minutes and come in bursts: their own queue and worker, so webhooks and reward finalization
# never wait behind them (README, docker-compose.yml).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"recommender.refresh_candidates": {"queue": "llm"}}
# Background work the broker refused waits in PostgreSQL and is sent again by this beat task (ADR 0064).
OUTBOX_FLUSH_INTERVAL_S = env_float("OUTBOX_FLUSH_INTERVAL_S", 20.0, low=1.0)
OUTBOX_BROKER_RETRY_S = env_float("OUTBOX_BROKER_RETRY_S", 5.0, low=0.0)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "tipengine.flush_outbox": {"task": "tipengine.flush_outbox", "schedule": OUTBOX_FLUSH_INTERVAL_S},
}
# Without beat (no broker), the serving process runs CELERY_BEAT_SCHEDULE itself (tipengine/periodic.py).
PERIODIC_IN_PROCESS = env_bool("PERIODIC_IN_PROCESS", TASKS_MODE != "celery")
