"""Reading resource properties during a preview, where some values are not known yet.

Unknown values (outputs not computed yet) are never violations: a check that reaches one raises `Unknown`,
and the policy adapters (adapters.py) end that check for that resource without a report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

_UNKNOWNS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class Unknown(Exception):
    """A value the check needs is not known yet (preview): the check has nothing to say."""


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _UNKNOWNS


def plain(value: Any) -> Any:
    """Copy pulumi-policy's unknown-checking proxies into plain dicts and lists, keeping unknown sentinels."""
    if isinstance(value, Mapping):
        copied = {}
        for key in value:
            try:
                copied[key] = plain(value[key])
            except UnknownValueError as e:
                copied[key] = e.unknown_type_sentinel
        return copied
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        found = []
        for index in range(len(value)):
            try:
                found.append(plain(value[index]))
            except UnknownValueError as e:
                found.append(e.unknown_type_sentinel)
        return found
    return value


def known(value: Any) -> Any:
    if is_unknown(value):
        raise Unknown
    return value


def get(props: Any, *path: str | int) -> Any:
    """The value at `path`, None where absent; raises Unknown where any step is not known yet."""
    node = known(props)
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
            node = known(node[step])
        else:
            if not isinstance(node, dict) or step not in node:
                return None
            node = known(node[step])
    return node


def items(props: Any, *path: str) -> list[Any]:
    """A list property (None and a lone object are normalised), each element checked for unknowns."""
    value = get(props, *path)
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [known(v) for v in value]


def truthy(value: Any) -> bool:
    """Booleans arrive as bools from the engine and sometimes as strings from JSON documents."""
    value = known(value)
    if isinstance(value, str):
        return value.lower() == "true"
    return value is True


def as_list(value: Any) -> list[Any]:
    """A policy-document field that may hold one value or a list of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
