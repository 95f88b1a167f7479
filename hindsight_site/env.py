"""Small typed readers for environment variables, used only by settings.

Each raises ImproperlyConfigured naming the variable when its value is malformed, so a typo fails at start-up
instead of silently falling back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
PROFILE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def env_str(name: str, default: str | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> int:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {number}")
    return number


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_path(name: str, default: Path, environ: Mapping[str, str] = os.environ) -> Path:
    value = env_str(name, environ=environ)
    return Path(value).expanduser().absolute() if value else default.expanduser().absolute()


def env_profile(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    value = env_str(name, default, environ=environ) or default
    if not PROFILE_RE.match(value):
        raise ImproperlyConfigured(
            f"{name} must be 1-63 lowercase letters, digits, '-' or '_' (starting with a letter or digit), "
            f"not {value!r}"
        )
    return value


def parse_database_url(url: str, *, name: str = "DATABASE_URL") -> dict:
    """Turn ``postgres[ql]://user:password@host:port/dbname?opt=val`` into a Django DATABASES entry.

    A Unix socket directory may be given as ``?host=/path`` (libpq style) or percent-encoded in the host part.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgresql+psycopg"):
        raise ImproperlyConfigured(f"{name} must be a postgresql:// URL, not scheme {parts.scheme!r}")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    host = options.pop("host", None) or unquote(parts.hostname or "")
    if parts.hostname and parts.netloc.rsplit("@", 1)[-1].startswith("%2F"):
        host = unquote(parts.netloc.rsplit("@", 1)[-1].split(":")[0])
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ImproperlyConfigured(f"{name} must name a database (…/dbname)")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port") from None
    return {
        "NAME": database,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "OPTIONS": options,
    }


def unknown_hindsight_variables(environ: Mapping[str, str], known: set[str]) -> list[str]:
    """Names that look like ours but that nothing reads: almost always a typo worth a warning."""
    return sorted(name for name in environ if name.startswith("HINDSIGHT_") and name not in known)
