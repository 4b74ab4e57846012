"""Inference handlers for the prebuilt SageMaker scikit-learn serving container.

Shipped alone at the root of the serving code archive (or under ``code/`` inside model.tar.gz), so it
uses only the standard library, numpy, pandas, joblib and scikit-learn, which the container provides.

The container imports this module and calls ``model_fn`` once per worker, then ``transform_fn`` for
every request. ``input_fn``/``predict_fn``/``output_fn`` are deliberately absent: the container refuses a
module that defines them together with ``transform_fn``, and only ``transform_fn`` can choose the
status code. ``handle`` is the one request path, shared with serving/local_server.py and the tests.

Contract (docs/formats.md, "Inference contract"):

* ``application/json``: ``{"instances": [...]}``, each instance a list in schema order or an object
  keyed by feature name. ``text/csv``: rows in schema order, no header, no label.
  A ``charset`` parameter is accepted when it is UTF-8; any other media type parameter is refused.
* Success: 200 ``{"model_version", "classes", "predictions", "probabilities"}``.
* Failure: 400 (415 unsupported content type, 406 unacceptable Accept) with
  ``{"error": {"code", "message", "field"}}``; ``field`` names the feature or request part at fault.

Validation decisions:

* A categorical value outside the schema's ``categories`` is refused (400 ``unknown_category``), although
  the pipeline's one-hot encoder would ignore it: an unknown category is almost always a typo or an
  upstream change, and answering it with a confident prediction from an all-zero encoding hides that.
* Numeric ``min``/``max`` in the schema describe the training range and are not enforced: values outside
  it are legitimate live data, and the drift engine has to see them to report drift.
* Numbers must be finite JSON numbers (or CSV tokens that parse as finite floats); booleans, strings,
  null, NaN and Infinity are refused. Categorical values must be strings.
* At most ``SAGESTACK_MAX_ROWS`` (default 1000) rows per request.
* A failure of the model itself on validated input is answered 500 ``internal_error`` (JSON body, no
  exception escapes): that is a broken model, and the endpoint's 5xx rollback alarm must see it.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

try:
    from sagemaker_containers.beta.framework import worker as _container_worker
except Exception:
    _container_worker = None

LOGGER = logging.getLogger(__name__)

JSON = "application/json"
CSV = "text/csv"
DEFAULT_MAX_ROWS = 1000
MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
MODEL_INFO_FILE = "model_info.json"
_UTF8_CHARSETS = frozenset({"utf-8", "utf8"})
_ACCEPTABLE = frozenset({"", "*/*", "application/*", JSON})


class RequestError(Exception):
    """A request the contract refuses: becomes a 4xx answer with a JSON error body."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status


@dataclass(frozen=True)
class Feature:
    name: str
    is_numeric: bool
    categories: frozenset[str]
    expected: str


@dataclass(frozen=True)
class LoadedModel:
    """What ``model_fn`` loads once: the pipeline, its schema and the values every request reuses."""

    pipeline: Any
    schema: Mapping[str, Any]
    model_info: Mapping[str, Any]
    model_version: str
    max_rows: int
    features: tuple[Feature, ...]
    feature_names: tuple[str, ...]
    feature_index: Mapping[str, int]
    classes: tuple[Any, ...]
    response_prefix: bytes


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _schema_features(schema: Any) -> tuple[Feature, ...]:
    if not isinstance(schema, dict) or not isinstance(schema.get("features"), list) or not schema["features"]:
        raise ValueError(f"{SCHEMA_FILE}: expected an object with a non-empty 'features' list")
    features = []
    for position, entry in enumerate(schema["features"]):
        name = entry.get("name") if isinstance(entry, dict) else None
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(name, str) or kind not in ("numeric", "categorical"):
            raise ValueError(
                f"{SCHEMA_FILE}: feature {position} needs a string 'name' and a 'type' of numeric/categorical"
            )
        if kind == "numeric":
            features.append(Feature(name, True, frozenset(), "a finite number"))
            continue
        categories = entry.get("categories")
        if (
            not isinstance(categories, list)
            or not categories
            or not all(isinstance(c, str) for c in categories)
        ):
            raise ValueError(
                f"{SCHEMA_FILE}: categorical feature {name!r} needs a non-empty list of string categories"
            )
        features.append(Feature(name, False, frozenset(categories), f"one of {categories}"))
    names = [feature.name for feature in features]
    if len(set(names)) != len(names):
        raise ValueError(f"{SCHEMA_FILE}: duplicate feature names in {names}")
    return tuple(features)


def _max_rows_from_env() -> int:
    raw = os.environ.get("SAGESTACK_MAX_ROWS", "").strip()
    if not raw:
        return DEFAULT_MAX_ROWS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"SAGESTACK_MAX_ROWS: got {raw!r}, expected a positive integer")
    return value


def model_fn(model_dir: str) -> LoadedModel:
    """Load model.joblib, schema.json and model_info.json from ``model_dir`` once per worker."""
    directory = Path(model_dir)
    schema = _read_json(directory / SCHEMA_FILE)
    model_info = _read_json(directory / MODEL_INFO_FILE)
    pipeline = joblib.load(directory / MODEL_FILE)
    features = _schema_features(schema)
    model_version = os.environ.get("SAGESTACK_MODEL_VERSION") or str(model_info.get("model_version", ""))
    if not model_version:
        raise ValueError(f"{MODEL_INFO_FILE}: no model_version and SAGESTACK_MODEL_VERSION is not set")
    classes = tuple(np.asarray(pipeline.classes_).tolist())
    schema_classes = schema.get("classes")
    if schema_classes is not None and list(classes) != list(schema_classes):
        raise ValueError(
            f"{MODEL_FILE}: model classes {list(classes)} differ from {SCHEMA_FILE} classes {schema_classes}"
        )
    prefix = json.dumps({"model_version": model_version, "classes": list(classes)})[:-1] + ", "
    return LoadedModel(
        pipeline=pipeline,
        schema=schema,
        model_info=model_info,
        model_version=model_version,
        max_rows=_max_rows_from_env(),
        features=features,
        feature_names=tuple(feature.name for feature in features),
        feature_index={feature.name: index for index, feature in enumerate(features)},
        classes=classes,
        response_prefix=prefix.encode("utf-8"),
    )


def _media_type(content_type: str | None) -> str:
    """The bare media type; refuses non-UTF-8 charsets and any other parameter."""
    parts = (content_type or "").split(";")
    media_type = parts[0].strip().lower()
    for parameter in parts[1:]:
        key, _, value = parameter.partition("=")
        key = key.strip().lower()
        value = value.strip().strip('"').lower()
        if not key and not value:
            continue
        if key != "charset" or value not in _UTF8_CHARSETS:
            raise RequestError(
                "unsupported_content_type",
                f"content type parameter {parameter.strip()!r} is not supported; only charset=utf-8 is",
                "Content-Type",
                415,
            )
    if media_type not in (JSON, CSV):
        raise RequestError(
            "unsupported_content_type",
            f"content type {content_type!r} is not supported; expected {JSON!r} or {CSV!r}",
            "Content-Type",
            415,
        )
    return media_type


def _check_accept(accept: str | None) -> None:
    for option in (accept or "").split(","):
        if option.split(";")[0].strip().lower() in _ACCEPTABLE:
            return
    raise RequestError(
        "not_acceptable", f"accept {accept!r} cannot be served; responses are {JSON!r}", "Accept", 406
    )


def _text(body: bytes | bytearray | memoryview | str | None) -> str:
    if body is None:
        body = b""
    if isinstance(body, str):
        text = body
    else:
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise RequestError(
                "invalid_encoding",
                f"body is not valid UTF-8 (byte {error.start}); encode the request as UTF-8",
                "body",
            ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise RequestError("empty_body", "request body is empty; expected at least one instance", "body")
    return text


def _numeric(value: Any, row: int, feature: Feature) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(
            "invalid_value",
            f"instance {row}: {feature.name} = {value!r} is not {feature.expected}",
            feature.name,
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RequestError(
            "invalid_value",
            f"instance {row}: {feature.name} = {value!r} is not {feature.expected}",
            feature.name,
        )
    return number


def _category(value: Any, row: int, feature: Feature) -> str:
    if not isinstance(value, str):
        raise RequestError(
            "invalid_value",
            f"instance {row}: {feature.name} = {value!r} is not a string, expected {feature.expected}",
            feature.name,
        )
    if value not in feature.categories:
        raise RequestError(
            "unknown_category",
            f"instance {row}: {feature.name} = {value!r} is not {feature.expected}",
            feature.name,
        )
    return value


def _csv_number(token: str, row: int, feature: Feature) -> float:
    try:
        number = float(token)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise RequestError(
            "invalid_value", f"row {row}: {feature.name} = {token!r} is not {feature.expected}", feature.name
        )
    return number


def _check_row_count(model: LoadedModel, count: int) -> None:
    if count > model.max_rows:
        raise RequestError(
            "too_many_rows",
            f"request has more than {model.max_rows} rows; send at most {model.max_rows}",
            "instances",
        )


def _wrong_count(model: LoadedModel, row: int, got: int, unit: str) -> RequestError:
    return RequestError(
        "wrong_column_count",
        f"{unit} {row}: got {got} values, expected {len(model.features)} "
        f"in schema order {list(model.feature_names)}",
        "instances",
    )


def _rows_from_csv(model: LoadedModel, text: str) -> list[list[Any]]:
    width = len(model.features)
    rows: list[list[Any]] = []
    try:
        for tokens in csv.reader(text.splitlines()):
            if not tokens or (len(tokens) == 1 and not tokens[0].strip()):
                continue
            row = len(rows)
            _check_row_count(model, row + 1)
            if len(tokens) != width:
                raise _wrong_count(model, row, len(tokens), "row")
            values: list[Any] = []
            for feature, token in zip(model.features, tokens, strict=True):
                token = token.strip()
                values.append(
                    _csv_number(token, row, feature) if feature.is_numeric else _category(token, row, feature)
                )
            rows.append(values)
    except csv.Error as error:
        raise RequestError("invalid_csv", f"body is not valid CSV: {error}", "body") from None
    if not rows:
        raise RequestError("empty_body", "request body has no CSV rows; expected at least one", "body")
    return rows


def _refuse_constant(token: str) -> float:
    raise RequestError("invalid_json", f"body is not valid JSON: {token} is not a JSON number", "body")


def _rows_from_json(model: LoadedModel, text: str) -> list[list[Any]]:
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RequestError:
        raise
    except (ValueError, RecursionError) as error:
        raise RequestError("invalid_json", f"body is not valid JSON: {error}", "body") from None
    if not isinstance(document, dict) or "instances" not in document:
        raise RequestError("missing_instances", 'expected a JSON object {"instances": [...]}', "instances")
    extra = sorted(key for key in document if key != "instances")
    if extra:
        raise RequestError(
            "unknown_field", f'unexpected top-level keys {extra}; expected only "instances"', extra[0]
        )
    instances = document["instances"]
    if not isinstance(instances, list):
        raise RequestError("invalid_instances", '"instances" must be a list of lists or objects', "instances")
    if not instances:
        raise RequestError(
            "empty_instances", '"instances" is empty; expected at least one instance', "instances"
        )
    _check_row_count(model, len(instances))
    width = len(model.features)
    rows: list[list[Any]] = []
    for row, instance in enumerate(instances):
        if isinstance(instance, list):
            if len(instance) != width:
                raise _wrong_count(model, row, len(instance), "instance")
            ordered: Sequence[Any] = instance
        elif isinstance(instance, dict):
            ordered = _ordered_values(model, row, instance)
        else:
            raise RequestError(
                "invalid_instance",
                f"instance {row}: expected a list in schema order or an object, got {instance!r}",
                "instances",
            )
        rows.append(
            [
                _numeric(value, row, feature) if feature.is_numeric else _category(value, row, feature)
                for feature, value in zip(model.features, ordered, strict=True)
            ]
        )
    return rows


def _ordered_values(model: LoadedModel, row: int, instance: Mapping[str, Any]) -> list[Any]:
    for key in instance:
        if key not in model.feature_index:
            raise RequestError(
                "unknown_feature",
                f"instance {row}: unknown feature {key!r}; expected one of {list(model.feature_names)}",
                str(key),
            )
    values = []
    for name in model.feature_names:
        if name not in instance:
            raise RequestError("missing_feature", f"instance {row}: missing feature {name!r}", name)
        values.append(instance[name])
    return values


def _frame(model: LoadedModel, rows: list[list[Any]]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True))
    data = {
        feature.name: np.array(column, dtype=np.float64 if feature.is_numeric else object)
        for feature, column in zip(model.features, columns, strict=True)
    }
    return pd.DataFrame(data, columns=list(model.feature_names), copy=False)


def _encode(model: LoadedModel, probabilities: np.ndarray) -> bytes:
    predictions = np.asarray(model.classes, dtype=object)[probabilities.argmax(axis=1)].tolist()
    body = json.dumps({"predictions": predictions, "probabilities": probabilities.tolist()})
    return model.response_prefix + body[1:].encode("utf-8")


def _error_body(code: str, message: str, field: str | None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "field": field}}).encode("utf-8")


def parse(model: LoadedModel, body: bytes | str | None, content_type: str | None) -> pd.DataFrame:
    """The request as a DataFrame of the schema's features in schema order; RequestError if refused."""
    media_type = _media_type(content_type)
    text = _text(body)
    rows = _rows_from_json(model, text) if media_type == JSON else _rows_from_csv(model, text)
    return _frame(model, rows)


def handle(
    model: LoadedModel, body: bytes | str | None, content_type: str | None, accept: str | None
) -> tuple[int, bytes, str]:
    """Answer one invocation: (status, JSON body, content type). Never raises."""
    try:
        _check_accept(accept)
        frame = parse(model, body, content_type)
    except RequestError as error:
        return error.status, _error_body(error.code, error.message, error.field), JSON
    except Exception as error:
        LOGGER.exception("unexpected failure while parsing a request")
        return 400, _error_body("invalid_request", f"request could not be parsed: {error}", None), JSON
    try:
        probabilities = np.asarray(model.pipeline.predict_proba(frame), dtype=np.float64)
        return 200, _encode(model, probabilities), JSON
    except Exception as error:
        LOGGER.exception("model failed on a validated request")
        return 500, _error_body("internal_error", f"model failed on a valid request: {error}", None), JSON


def transform_fn(model: LoadedModel, request_body: bytes | str, content_type: str, accept: str) -> Any:
    """Container entry point: ``handle`` wrapped in the toolkit's response type.

    Without the toolkit (tests, local runs) it returns ``handle``'s (status, body, content type).
    """
    status, body, mimetype = handle(model, request_body, content_type, accept)
    if _container_worker is None:
        return status, body, mimetype
    # sagemaker_containers _transformer.Transformer.transform turns a returned tuple into a 200 Response;
    # only a worker.Response(response, status, mimetype) carries another status (aws/sagemaker-containers).
    return _container_worker.Response(response=body, status=status, mimetype=mimetype)
