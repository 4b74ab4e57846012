"""Environment-variable reading shared by the Lambda handlers: every error names the variable."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A missing or invalid environment variable; the message names it and what was expected."""


def required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name}: required environment variable is missing or empty")
    return value


def whole_number(environ: Mapping[str, str], name: str, minimum: int, maximum: int) -> int:
    raw = required(environ, name)
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}: expected a whole number from {minimum} to {maximum}, got {raw!r}")
    return value
