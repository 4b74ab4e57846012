"""The request path's helpers called directly (no server, no toolkit): exact status, code, field and message.

Fast in-process tests for the mutation run of serving/inference.py (tests/mutation/inference.toml).
"""

from __future__ import annotations

import pytest

import inference


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", "application/json"),
        ("TEXT/CSV", "text/csv"),
        (" application/json ; charset=UTF-8", "application/json"),
        ('text/csv; charset="utf8"', "text/csv"),
        ("application/json;", "application/json"),
    ],
)
def test_media_type_is_the_bare_lowercase_type(content_type: str, expected: str) -> None:
    assert inference._media_type(content_type) == expected
