"""moto in server mode on 127.0.0.1, and the AWS environment that points in-process boto3 clients at it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from moto.server import ThreadedMotoServer

MOTO_ACCOUNT_ID = "123456789012"  # moto's default account
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
)


@contextmanager
def moto_server() -> Iterator[str]:
    """A fresh moto on a free loopback port; yields its URL and stops it on the way out, whatever happened."""
    # The emulator's web server logs every request at INFO; the rehearsal's own progress lines are enough.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: an earlier run's buckets and keys would still be there.
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
        yield url
    finally:
        server.stop()


def client(service: str, endpoint_url: str | None = None, region: str = "us-east-1") -> Any:
    """A boto3 client for the emulator at `endpoint_url` (or moto's in-process mock when None), with dummy
    credentials passed explicitly, so neither the caller's environment nor a real profile is ever read."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@contextmanager
def aws_environment(endpoint_url: str, region: str) -> Iterator[None]:
    """Dummy credentials, the stack's region and the emulator's URL for boto3; the caller's values come back after."""
    saved = {name: os.environ.get(name) for name in _AWS_VARIABLES}
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ENDPOINT_URL": endpoint_url,
        }
    )
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
