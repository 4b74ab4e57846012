"""Policy documents with their `pulumi.Output` leaves resolved, outside any program run (no mocks needed):
the builders' outputs are made of plain inputs, so each resolves at once in-process."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await


def resolved(node: Any) -> Any:
    """`node` (a document, statement or leaf) with every Output replaced by its value, containers kept as typed."""
    if isinstance(node, pulumi.Output):
        return resolved(_sync_await(node.future()))
    if isinstance(node, dict):
        return {key: resolved(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(value) for value in node]
    return node
