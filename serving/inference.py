"""Inference handlers for the prebuilt SageMaker scikit-learn serving container.

Shipped with ``compiled_estimator.py`` at the root of the serving code archive (or under ``code/`` inside
model.tar.gz), so it uses only the standard library, numpy, pandas, joblib and scikit-learn, which the container provides.

The container imports this module and calls ``model_fn`` once per worker, then ``transform_fn`` for
every request. ``input_fn``/``predict_fn``/``output_fn`` are deliberately absent: the container refuses a
module that defines them together with ``transform_fn``, and only ``transform_fn`` can choose the
status code. ``handle`` is the one request path; ``load_model`` is ``model_fn`` without the container.

Request path: at load the fitted preprocessing (imputers, scaler, one-hot with the schema's categories)
is compiled into numpy operations in schema order (``compile_preprocessing``), and each request calls the
final estimator on the resulting array; the pandas DataFrame and ColumnTransformer cost ~90% of a
one-row Pipeline call. A pipeline the compiler does not know falls back to ``Pipeline.predict_proba``
and says so once in the log, at load. Requests of a few rows then skip the estimator's own per-call cost
too: ``compiled_estimator`` evaluates the fitted trees or coefficients as array operations, checked at
load against the estimator's ``predict_proba`` (an estimator it cannot reproduce keeps its own).

Contract (docs/formats.md, "Inference contract"):

* ``application/json``: ``{"instances": [...]}``, each instance a list in schema order or an object
  keyed by feature name. ``text/csv``: rows in schema order, no header, no label.
  A ``charset`` parameter is accepted when it is UTF-8; any other media type parameter is refused.
* Accept: ``application/json``, ``application/*`` or ``*/*`` (any entry of a comma-separated list, q-values
  ignored as the container ignores them); anything else is 406. The container substitutes
  ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` for a missing Accept or a bare ``*/*``.
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
import dataclasses
import io
import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn import config_context

import compiled_estimator

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


class CompileError(Exception):
    """The fitted pipeline has a step or setting the compiled request path does not reproduce."""


@dataclass(frozen=True)
class CompiledPreprocessing:
    """The fitted preprocessing as numpy operations; ``transform(rows)`` is the final estimator's input.

    ``rows`` are lists in schema order (numbers as floats, categories as strings), as ``parse_rows`` gives.
    The output is preallocated in ``dtype``, the dtype the final estimator converts its input to anyway
    (float32 C-order for scikit-learn's tree models), so the estimator takes it without a copy. Numeric
    columns: ``(x - mean) / scale`` in float64 exactly as StandardScaler computes it, rounded once into the
    output; a missing number (NaN, None) is the imputer's statistic, scaled the same way at load.
    Categorical columns: one dict lookup per value gives its one-hot column; a missing value (None, NaN)
    is the imputer's statistic, an unknown category all zeros (as ``handle_unknown="ignore"``).
    """

    features: int
    width: int
    dtype: np.dtype[Any]
    numeric_positions: tuple[int, ...]
    numeric_offset: int
    # Shaped (columns, 1): they broadcast over the numeric block, which is filled column-major.
    numeric_mean: np.ndarray | None
    numeric_scale: np.ndarray | None
    # What the Pipeline makes of a missing number (imputer statistic, then scaled); None without imputer.
    numeric_missing: np.ndarray | None
    categorical_positions: tuple[int, ...]
    # Per categorical column: value -> its output column, and the imputer's fill (None without imputer).
    categorical_columns: tuple[Mapping[Any, int], ...]
    categorical_fill: tuple[Any, ...]

    def transform(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        count = len(rows)
        result = np.zeros((count, self.width), dtype=self.dtype)
        if not count:
            return result
        columns = list(zip(*rows, strict=True))
        if len(columns) != self.features:
            raise ValueError(f"rows have {len(columns)} values, expected {self.features} in schema order")
        if self.numeric_positions:
            self._numeric(columns, count, result)
        if self.categorical_positions:
            self._categorical(columns, count, result)
        return result

    def _numeric(self, columns: list[tuple[Any, ...]], count: int, result: np.ndarray) -> None:
        width = len(self.numeric_positions)
        selected = chain.from_iterable(columns[position] for position in self.numeric_positions)
        values = np.fromiter(selected, np.float64, width * count).reshape(width, count)
        block = result[:, self.numeric_offset : self.numeric_offset + width].T
        if self.numeric_mean is not None:
            np.subtract(values, self.numeric_mean, out=values)
        if self.numeric_scale is not None:
            np.divide(values, self.numeric_scale, out=block)
        else:
            block[...] = values
        if self.numeric_missing is not None:
            missing = np.isnan(values)
            if missing.any():
                np.copyto(block, self.numeric_missing, where=missing)

    def _categorical(self, columns: list[tuple[Any, ...]], count: int, result: np.ndarray) -> None:
        shape = (len(self.categorical_positions), count)
        lookups = zip(self.categorical_positions, self.categorical_columns, strict=True)
        try:
            selected = chain.from_iterable(map(index.__getitem__, columns[p]) for p, index in lookups)
            codes = np.fromiter(selected, np.intp, shape[0] * count).reshape(shape)
        except KeyError:
            codes = np.fromiter(self._codes_with_missing(columns), np.intp, shape[0] * count).reshape(shape)
            known = codes >= 0
            result[np.nonzero(known)[1], codes[known]] = 1.0
        else:
            result[np.arange(count), codes] = 1.0

    def _codes_with_missing(self, columns: list[tuple[Any, ...]]) -> Iterator[int]:
        """Output column of every categorical value: a missing one is the imputer's fill, unknown is -1."""
        lookups = zip(
            self.categorical_positions, self.categorical_columns, self.categorical_fill, strict=True
        )
        for position, index, fill in lookups:
            for value in columns[position]:
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    value = fill
                yield index.get(value, -1)


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
    # None when the pipeline could not be compiled: requests then go through the Pipeline.
    compiled: CompiledPreprocessing | None = None
    estimator: Any = None
    # The estimator as array operations for requests of at most kernel.max_rows rows; None when it has
    # no kernel (requests then call the estimator's own predict_proba).
    kernel: compiled_estimator.Kernel | None = None
    # The container's response type (sagemaker_containers worker.Response), set by model_fn.
    response_type: Callable[..., Any] | None = None

    def predict_proba(self, rows: list[list[Any]]) -> np.ndarray:
        """Class probabilities of validated rows in schema order (compiled path, or the Pipeline).

        The estimator's own finiteness scan is skipped (scikit-learn's ``assume_finite``) only for input
        that one ``isfinite`` pass has just shown finite; anything else goes through scikit-learn's checks
        unchanged, so it refuses (or accepts) exactly what it would refuse from the Pipeline.
        """
        if self.compiled is None:
            return np.asarray(self.pipeline.predict_proba(_frame(self, rows)), dtype=np.float64)
        features = self.compiled.transform(rows)
        if not np.isfinite(features).all():
            self._refuse_overflow(features, rows)
            return np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
        if self.kernel is not None and len(rows) <= self.kernel.max_rows:
            return self.kernel.predict_proba(features)
        with config_context(assume_finite=True):
            return np.asarray(self.estimator.predict_proba(features), dtype=np.float64)

    def _refuse_overflow(self, features: np.ndarray, rows: list[list[Any]]) -> None:
        """A finite number that becomes infinite in the estimator's input (once scaled, in its dtype) is the
        client's value out of the model's range: a 400 naming it, never a 5xx that alarms and rolls back."""
        compiled = self.compiled
        assert compiled is not None
        overflowed = np.argwhere(np.isinf(features))
        if not len(overflowed):
            return  # NaN only: a missing value, which the estimator takes or refuses itself
        row, column = (int(i) for i in overflowed[0])
        position = compiled.numeric_positions[column - compiled.numeric_offset]
        name = self.feature_names[position]
        raise RequestError(
            "out_of_range",
            f"instance {row}: {name} = {rows[row][position]!r} is beyond the range the model takes",
            name,
        )


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


def _one_step(name: str, step: Any) -> list[Any]:
    """The fitted steps of one ColumnTransformer entry, in order."""
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        return [s for _, s in step.steps if s is not None and s != "passthrough"]
    if step == "passthrough":
        return []
    if isinstance(step, str):
        raise CompileError(f"transformer {name!r}: {step!r} is not supported")
    return [step]


def _numeric_block(name: str, steps: list[Any], width: int) -> tuple[Any, Any, Any]:
    """(imputer statistics, mean, scale) of a numeric block, each None when that step does not apply."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    fill = mean = scale = None
    for step in steps:
        if isinstance(step, SimpleImputer) and fill is None and mean is None and scale is None:
            if step.add_indicator or not (
                isinstance(step.missing_values, float) and np.isnan(step.missing_values)
            ):
                raise CompileError(f"transformer {name!r}: only a NaN imputer without indicator compiles")
            fill = np.asarray(step.statistics_, dtype=np.float64)
            if fill.shape != (width,) or np.isnan(fill).any():
                raise CompileError(f"transformer {name!r}: imputer drops or keeps empty columns")
        elif isinstance(step, StandardScaler) and mean is None and scale is None:
            # StandardScaler.transform subtracts mean_ only with_mean and divides by scale_ only with_std;
            # mean_ is fitted even when with_mean=False (sklearn/preprocessing/_data.py).
            mean = np.asarray(step.mean_, dtype=np.float64) if step.with_mean else None
            scale = np.asarray(step.scale_, dtype=np.float64) if step.with_std else None
        else:
            raise CompileError(f"transformer {name!r}: step {type(step).__name__} is not supported here")
    return fill, mean, scale


def _categorical_block(name: str, steps: list[Any], width: int) -> tuple[list[Any], list[list[Any]]]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    fills: list[Any] = [None] * width
    if len(steps) == 2 and isinstance(steps[0], SimpleImputer):
        imputer = steps[0]
        if imputer.add_indicator or not (
            imputer.missing_values is None
            or (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values))
        ):
            raise CompileError(f"transformer {name!r}: only a NaN/None imputer without indicator compiles")
        fills = list(imputer.statistics_)
        # A column without any value in training keeps a NaN statistic and is dropped from the imputer's
        # output (keep_empty_features=False): the encoder then sees fewer columns than the schema places.
        if len(fills) != width or any(f is None or (isinstance(f, float) and math.isnan(f)) for f in fills):
            raise CompileError(f"transformer {name!r}: imputer drops or keeps empty columns")
        steps = steps[1:]
    if len(steps) != 1 or not isinstance(steps[0], OneHotEncoder):
        raise CompileError(f"transformer {name!r}: expected [SimpleImputer,] OneHotEncoder")
    encoder = steps[0]
    if encoder.drop_idx_ is not None or getattr(encoder, "_infrequent_enabled", False):
        raise CompileError(f"transformer {name!r}: one-hot with drop or infrequent categories")
    if encoder.handle_unknown not in ("ignore", "infrequent_if_exist", "warn"):
        raise CompileError(f"transformer {name!r}: handle_unknown={encoder.handle_unknown!r}")
    return fills, [list(categories) for categories in encoder.categories_]


@dataclass
class _Layout:
    """The output columns of a ColumnTransformer, gathered transformer by transformer."""

    width: int = 0
    numeric: tuple[Any, Any, Any] | None = None
    numeric_positions: tuple[int, ...] = ()
    numeric_offset: int = 0
    categorical_positions: list[int] = dataclasses.field(default_factory=list)
    categorical_columns: list[Mapping[Any, int]] = dataclasses.field(default_factory=list)
    categorical_fill: list[Any] = dataclasses.field(default_factory=list)

    def add_numeric(self, name: str, steps: list[Any], positions: list[int]) -> None:
        if self.numeric is not None:
            raise CompileError("more than one numeric transformer")
        self.numeric = _numeric_block(name, steps, len(positions))
        self.numeric_positions = tuple(positions)
        self.numeric_offset = self.width
        self.width += len(positions)

    def add_categorical(self, name: str, steps: list[Any], positions: list[int]) -> None:
        fills, categories = _categorical_block(name, steps, len(positions))
        for position, fill, values in zip(positions, fills, categories, strict=True):
            self.categorical_positions.append(position)
            self.categorical_columns.append({v: self.width + i for i, v in enumerate(values)})
            self.categorical_fill.append(fill)
            self.width += len(values)


def _split_pipeline(pipeline: Any) -> tuple[Any, Any]:
    """(ColumnTransformer, final estimator) of a fitted two-step Pipeline, or CompileError."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise CompileError("expected a Pipeline of a ColumnTransformer and an estimator")
    transformer, estimator = pipeline.steps[0][1], pipeline.steps[-1][1]
    if not isinstance(transformer, ColumnTransformer):
        raise CompileError(f"first step is {type(transformer).__name__}, expected a ColumnTransformer")
    if not hasattr(estimator, "predict_proba"):
        raise CompileError(f"final step {type(estimator).__name__} has no predict_proba")
    if getattr(transformer, "_sklearn_output_config", {}).get("transform", "default") != "default":
        raise CompileError("ColumnTransformer output is not a numpy array")
    return transformer, estimator


def _column_layout(transformer: Any, features: Sequence[Feature]) -> _Layout:
    position = {feature.name: index for index, feature in enumerate(features)}
    kinds = {feature.name: feature.is_numeric for feature in features}
    layout = _Layout()
    for name, step, columns in transformer.transformers_:
        if step == "drop":
            continue
        if not isinstance(columns, list | tuple) or not all(c in position for c in columns):
            raise CompileError(f"transformer {name!r}: columns {columns!r} are not schema feature names")
        if not columns:
            # scikit-learn keeps a transformer that selects no column unfitted and skips it in transform.
            continue
        steps = _one_step(name, step)
        if all(kinds[c] for c in columns):
            layout.add_numeric(name, steps, [position[c] for c in columns])
        elif not any(kinds[c] for c in columns):
            layout.add_categorical(name, steps, [position[c] for c in columns])
        else:
            raise CompileError(f"transformer {name!r} mixes numeric and categorical columns")
    return layout


def _input_dtype(estimator: Any) -> np.dtype[Any]:
    """The dtype the estimator converts its input to: float32 for scikit-learn's tree models (their
    predict validates with ``dtype=np.float32``: ensemble/_gb.py decision_function, ensemble/_forest.py and
    tree/_classes.py ``_validate_X_predict``), float64 for the rest, which compute in the input's dtype."""
    from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

    trees = (
        GradientBoostingClassifier,
        RandomForestClassifier,
        ExtraTreesClassifier,
        DecisionTreeClassifier,
        ExtraTreeClassifier,
    )
    if isinstance(estimator, trees):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _missing_numbers(fill: Any, mean: Any, scale: Any) -> np.ndarray | None:
    """The Pipeline's value for a missing number: the imputer's statistic, then scaled as StandardScaler does."""
    if fill is None:
        return None
    value = np.array(fill, dtype=np.float64)
    if mean is not None:
        value -= mean
    if scale is not None:
        value /= scale
    return value.reshape(-1, 1)


def compile_preprocessing(pipeline: Any, features: Sequence[Feature]) -> tuple[CompiledPreprocessing, Any]:
    """(compiled preprocessing, final estimator) of a fitted ``Pipeline([ColumnTransformer, estimator])``.

    Raises CompileError naming what it does not reproduce; the caller then keeps the Pipeline.
    """
    transformer, estimator = _split_pipeline(pipeline)
    layout = _column_layout(transformer, features)
    expected = getattr(estimator, "n_features_in_", layout.width)
    if expected != layout.width:
        raise CompileError(f"compiled width {layout.width} differs from the estimator's {expected} inputs")
    fill, mean, scale = layout.numeric if layout.numeric is not None else (None, None, None)
    compiled = CompiledPreprocessing(
        features=len(features),
        width=layout.width,
        dtype=_input_dtype(estimator),
        numeric_positions=layout.numeric_positions,
        numeric_offset=layout.numeric_offset,
        numeric_mean=None if mean is None else mean.reshape(-1, 1),
        numeric_scale=None if scale is None else scale.reshape(-1, 1),
        numeric_missing=_missing_numbers(fill, mean, scale),
        categorical_positions=tuple(layout.categorical_positions),
        categorical_columns=tuple(layout.categorical_columns),
        categorical_fill=tuple(layout.categorical_fill),
    )
    return compiled, estimator


def model_fn(model_dir: str) -> LoadedModel:
    """The container's model loader: ``load_model`` plus the container's response type.

    The import is here, not at module level, so the handlers stay importable without the container; in
    the container a failure here fails the worker's start (/ping never answers 200), loudly.
    """
    from sagemaker_containers.beta.framework import worker

    return dataclasses.replace(load_model(model_dir), response_type=worker.Response)


def load_model(model_dir: str) -> LoadedModel:
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
    try:
        compiled, estimator = compile_preprocessing(pipeline, features)
    except CompileError as error:
        compiled, estimator = None, None
        LOGGER.warning("%s: request path not compiled (%s); serving through the Pipeline", MODEL_FILE, error)
    kernel = None if compiled is None else _load_kernel(estimator, compiled)
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
        compiled=compiled,
        estimator=estimator,
        kernel=kernel,
    )


def _load_kernel(estimator: Any, compiled: CompiledPreprocessing) -> compiled_estimator.Kernel | None:
    try:
        return compiled_estimator.load_kernel(estimator, compiled.width, compiled.dtype)
    except compiled_estimator.KernelError as error:
        LOGGER.warning(
            "%s: estimator not compiled (%s); small requests call its predict_proba", MODEL_FILE, error
        )
        return None


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
        # Read as the drift engine reads the captured body (monitoring/capture.py): newline="" keeps a quoted line
        # break inside its value (RFC 4180 2.6) and ends rows at \r and \n only (str.splitlines also split at
        # \x1c or \u2028); strict refuses an unclosed quote or text after a closing one instead of guessing.
        for tokens in csv.reader(io.StringIO(text, newline=""), strict=True):
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


def parse_rows(model: LoadedModel, body: bytes | str | None, content_type: str | None) -> list[list[Any]]:
    """The request's validated rows in schema order; RequestError if refused."""
    media_type = _media_type(content_type)
    text = _text(body)
    return _rows_from_json(model, text) if media_type == JSON else _rows_from_csv(model, text)


def parse(model: LoadedModel, body: bytes | str | None, content_type: str | None) -> pd.DataFrame:
    """The request as a DataFrame of the schema's features in schema order; RequestError if refused."""
    return _frame(model, parse_rows(model, body, content_type))


def handle(
    model: LoadedModel, body: bytes | str | None, content_type: str | None, accept: str | None
) -> tuple[int, bytes, str]:
    """Answer one invocation: (status, JSON body, content type). Never raises."""
    try:
        _check_accept(accept)
        rows = parse_rows(model, body, content_type)
    except RequestError as error:
        return error.status, _error_body(error.code, error.message, error.field), JSON
    except Exception as error:
        LOGGER.exception("unexpected failure while parsing a request")
        return 400, _error_body("invalid_request", f"request could not be parsed: {error}", None), JSON
    try:
        probabilities = model.predict_proba(rows)
        return 200, _encode(model, probabilities), JSON
    except RequestError as error:  # a value valid by the schema that the model cannot take
        return error.status, _error_body(error.code, error.message, error.field), JSON
    except Exception as error:
        LOGGER.exception("model failed on a validated request")
        return 500, _error_body("internal_error", f"model failed on a valid request: {error}", None), JSON


def transform_fn(model: LoadedModel, request_body: bytes | str, content_type: str, accept: str) -> Any:
    """Container entry point: ``handle``'s answer as the container's response type (from ``model_fn``)."""
    if model.response_type is None:
        raise RuntimeError("transform_fn needs a model loaded by model_fn (the container's response type)")
    status, body, mimetype = handle(model, request_body, content_type, accept)
    # sagemaker_containers _transformer.Transformer.transform turns a returned tuple into a 200 Response;
    # only a worker.Response(response, status, mimetype) carries another status (aws/sagemaker-containers).
    return model.response_type(response=body, status=status, mimetype=mimetype)
