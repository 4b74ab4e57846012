"""A model's lineage: the one set of key names the registry, the stack's model tags, promote and served share.

Registered packages carry the keys as CustomerMetadataProperties, stack-trained models as tags; both APIs
accept the same characters in a value (letters, separators, digits and ``_.:/=+-@``), at most 256 of them.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping

TRAINING_JOB = "training_job"
DATA = "data"
CODE_SHA256 = "code_sha256"
HYPERPARAMETERS = "hyperparameters"
VALIDATION_METRICS = "validation_metrics"
IMAGE = "image"
GIT_COMMIT = "git_commit"
KEYS: tuple[str, ...] = (
    TRAINING_JOB,
    DATA,
    CODE_SHA256,
    HYPERPARAMETERS,
    VALIDATION_METRICS,
    IMAGE,
    GIT_COMMIT,
)

VALUE_MAX_LENGTH = 256
_PUNCTUATION = frozenset("_.:/=+-@")
_TRUNCATED = "..."
# The deploy workflow sets it to the commit it deploys; unset (a laptop, the tests) means "not known".
GIT_COMMIT_VARIABLE = "SAGESTACK_GIT_COMMIT"
_COMMIT = re.compile(r"[0-9a-f]{7,40}")


def allowed(character: str) -> bool:
    """A character the CustomerMetadataValue and tag Value patterns accept: \\p{L}, \\p{Z}, \\p{N} or _.:/=+-@."""
    return unicodedata.category(character)[0] in "LZN" or character in _PUNCTUATION


def value(text: str) -> str:
    """`text` as a valid metadata or tag value: other characters become spaces, long text ends in '...'."""
    cleaned = " ".join("".join(c if allowed(c) else " " for c in text).split())
    if len(cleaned) > VALUE_MAX_LENGTH:
        cleaned = cleaned[: VALUE_MAX_LENGTH - len(_TRUNCATED)] + _TRUNCATED
    return cleaned


def assignments(pairs: Mapping[str, object]) -> str:
    """`a=1 b=2` in key order: the form hyperparameters and metrics take in a value (no JSON braces allowed)."""
    return value(" ".join(f"{key}={pairs[key]}" for key in sorted(pairs)))


def data_locations(channel_uris: Mapping[str, str]) -> str:
    return assignments(channel_uris)


def git_commit_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The commit being deployed, when the deploy sets it; None (recorded as absent) otherwise."""
    raw = (environ if environ is not None else os.environ).get(GIT_COMMIT_VARIABLE, "").strip().lower()
    if not raw:
        return None
    if not _COMMIT.fullmatch(raw):
        raise ValueError(f"{GIT_COMMIT_VARIABLE}: expected a git commit hash (7-40 hex digits), got {raw!r}")
    return raw


def check(properties: Mapping[str, str]) -> dict[str, str]:
    """The properties unchanged if every key is a lineage key and every value is valid; else a ValueError."""
    for key, text in properties.items():
        if key not in KEYS:
            raise ValueError(f"lineage key {key!r}: expected one of {list(KEYS)}")
        if not text or len(text) > VALUE_MAX_LENGTH or not all(allowed(c) for c in text):
            raise ValueError(
                f"lineage {key}: {text!r} is not 1-{VALUE_MAX_LENGTH} letters, digits, spaces or _.:/=+-@"
            )
    return dict(properties)
