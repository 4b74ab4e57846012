"""AWS's own API models (botocore's service-2.json files) as the judge of requests the stack sends."""

from __future__ import annotations

import copy
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

_SESSION = botocore.session.get_session()


def service_model(service: str) -> Any:
    return _SESSION.get_service_model(service)


def assert_valid_request(service: str, operation: str, params: dict[str, Any]) -> None:
    """Fail with botocore's own report when params are not a valid request for the operation."""
    shape = service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()


def enum(service: str, shape: str) -> list[str]:
    return list(service_model(service).shape_for(shape).enum)


@cache
def _service_authorization_reference() -> dict[str, dict[str, dict[str, Any]]]:
    """AWS's Service Authorization Reference as parliament ships it: service prefix -> action -> entry.

    Read once per session (the file is ~10 MB of JSON; each test reading it again cost ~0.4 s).
    """
    spec = importlib.util.find_spec("parliament")  # located, not imported: it needs pkg_resources
    assert spec is not None and spec.origin is not None
    definitions = json.loads((Path(spec.origin).parent / "iam_definition.json").read_text())
    services: dict[str, dict[str, dict[str, Any]]] = {}
    for service in definitions:  # some prefixes appear twice (e.g. iam); the first one is the reference
        if service["prefix"] not in services:
            services[service["prefix"]] = {p["privilege"]: p for p in reversed(service["privileges"])}
    return services


def parliament_definition(service_prefix: str, action: str) -> dict[str, Any]:
    """An action's entry in AWS's Service Authorization Reference, as parliament ships it (a copy)."""
    return copy.deepcopy(_service_authorization_reference()[service_prefix][action])
