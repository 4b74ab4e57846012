"""A tiny HTTP client for the local server tests (http.client keeps 4xx answers as plain responses)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


def request(
    url: str, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()


def invoke(
    url: str, body: bytes | str, content_type: str | None = "application/json", accept: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if accept is not None:
        headers["Accept"] = accept
    status, payload, payload_type = request(url, "POST", "/invocations", body, headers)
    assert payload_type == "application/json", (status, payload)
    return status, json.loads(payload)
