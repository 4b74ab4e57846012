"""AWS's own API models (botocore's service-2.json files) as the judge of requests the stack sends."""

from __future__ import annotations

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


def parliament_definition(service_prefix: str, action: str) -> dict[str, Any]:
    """An action's entry in AWS's Service Authorization Reference, as parliament ships it."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("parliament")  # located, not imported: it needs pkg_resources
    assert spec is not None and spec.origin is not None
    definitions = json.loads((Path(spec.origin).parent / "iam_definition.json").read_text())
    service = next(s for s in definitions if s["prefix"] == service_prefix)
    return dict(next(p for p in service["privileges"] if p["privilege"] == action))
