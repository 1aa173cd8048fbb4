"""Typed environment readers that fail loudly, naming the variable and what it should hold."""

import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _read(name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return parse(raw.strip())
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not valid: expected {expected} ({exc}).") from None


def _bool(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError("not a boolean")


def env_str(name: str, default: str = "") -> str:
    """Return the variable as a string."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    """Return the variable as a boolean (1/0, true/false, yes/no, on/off)."""
    return _read(name, default, _bool, "1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    """Return the variable as an integer."""
    return _read(name, default, int, "an integer")


def env_float(name: str, default: float, *, low: float | None = None, high: float | None = None) -> float:
    """Return the variable as a float, optionally bounded to [low, high]."""
    value = _read(name, default, float, "a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ImproperlyConfigured(f"{name}={value} is out of range: expected a number in [{low}, {high}].")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Return the variable as a comma-separated list, blanks dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    """Return the variable, which must be one of `choices`."""
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not valid: expected one of {', '.join(sorted(choices))}.")
    return value


def env_database(name: str) -> dict[str, Any]:
    """Return a Django DATABASES entry parsed from a PostgreSQL URL such as postgres://user@host:5432/db.

    A socket directory goes percent-encoded in the host: postgres://postgres@%2Frun%2Fpg:5432/db.
    """
    url = env_str(name)
    try:
        config = environ.Env.db_url_config(url)
    except (ValueError, KeyError, ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL ({exc}).") from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name} must be a postgres:// URL (tipengine runs on PostgreSQL only).")
    config["HOST"] = unquote(config.get("HOST") or "")
    return config


def settings_error_line(error: ImproperlyConfigured) -> str:
    """A settings failure as the one line a command prints instead of a traceback.

    DEBUG unset means production, whose settings want every secret; a developer beside `make run` (which sets
    DEBUG=1 itself) almost always meant DEBUG=1, so the line says so.
    """
    if os.environ.get("DEBUG") is not None:
        return str(error)
    return f"{error} Beside `make run` (development), set DEBUG=1: `DEBUG=1 .venv/bin/python manage.py ...`."
