"""The training contract: feature schema, hyperparameters and metric definitions.

Standard library only: the Pulumi program imports this module (as ``training.contract``) to
declare hyperparameters and metric definitions of the training job, and the training script
imports it (as ``contract``) from the unpacked source directory. docs/formats.md describes the
files derived from it.

A process that imports it under both names (the tests, the rehearsal: the program beside the training code)
gets one module object, registered under both at the first import, so its classes and constants are the
same objects everywhere (``isinstance`` holds across the two names).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

FORMAT_VERSION = 1
LABEL = "churned"
CLASSES: tuple[int, ...] = (0, 1)


@dataclass(frozen=True)
class NumericFeature:
    name: str
    min: float
    max: float
    description: str

    type = "numeric"

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "min": self.min, "max": self.max}


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    categories: tuple[str, ...]
    description: str

    type = "categorical"

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "categories": list(self.categories)}


Feature = NumericFeature | CategoricalFeature

FEATURES: tuple[Feature, ...] = (
    NumericFeature("tenure_months", 0, 120, "months since the customer signed up"),
    NumericFeature("monthly_charges", 0, 200, "current monthly bill"),
    NumericFeature("total_charges", 0, 25000, "amount billed over the whole tenure"),
    NumericFeature("support_calls", 0, 50, "support calls in the last 12 months"),
    NumericFeature("age", 18, 100, "customer age in years"),
    CategoricalFeature("contract", ("month-to-month", "one-year", "two-year"), "contract term"),
    CategoricalFeature(
        "payment_method",
        ("electronic-check", "mailed-check", "bank-transfer", "credit-card"),
        "how the bill is paid",
    ),
    CategoricalFeature("internet_service", ("dsl", "fiber-optic", "none"), "internet product"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(feature.name for feature in FEATURES)
NUMERIC_FEATURES: tuple[NumericFeature, ...] = tuple(f for f in FEATURES if isinstance(f, NumericFeature))
CATEGORICAL_FEATURES: tuple[CategoricalFeature, ...] = tuple(
    f for f in FEATURES if isinstance(f, CategoricalFeature)
)
COLUMN_NAMES: tuple[str, ...] = (*FEATURE_NAMES, LABEL)


def feature(name: str) -> Feature:
    """The declared feature called ``name``; KeyError naming the allowed features otherwise."""
    for candidate in FEATURES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown feature {name!r}; expected one of {list(FEATURE_NAMES)}")


def schema_document() -> dict[str, Any]:
    """The content of schema.json (docs/formats.md), features in request column order."""
    return {
        "format_version": FORMAT_VERSION,
        "label": LABEL,
        "classes": list(CLASSES),
        "features": [feature.document() for feature in FEATURES],
    }


ESTIMATORS: tuple[str, ...] = ("gradient_boosting", "random_forest", "logistic_regression")


@dataclass(frozen=True)
class Hyperparameter:
    """One training hyperparameter: the name is also the command-line flag of train.py."""

    name: str
    type: type
    default: str | int | float
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        # The sagemaker-training toolkit turns one-letter names into "-C", longer ones into "--name".
        return f"-{self.name}" if len(self.name) == 1 else f"--{self.name}"

    def expectation(self) -> str:
        if self.choices:
            return f"one of {list(self.choices)}"
        kind = "an integer" if self.type is int else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} in [{self.minimum}, {self.maximum}]"
        if self.minimum is not None:
            return f"{kind} >= {self.minimum}"
        return kind

    def parse(self, raw: object) -> str | int | float:
        """The typed value of ``raw`` (a string as SageMaker passes it, or a typed value).

        Raises ValueError naming the hyperparameter, the bad value and what is allowed.
        """
        problem = f"hyperparameter {self.name!r}: got {raw!r}, expected {self.expectation()}"
        if self.type is str:
            if not isinstance(raw, str) or raw not in self.choices:
                raise ValueError(problem)
            return raw
        if isinstance(raw, bool):
            raise ValueError(problem)
        value: int | float
        try:
            if self.type is int:
                value = int(raw) if isinstance(raw, int) else int(str(raw).strip())
            else:
                value = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
        except ValueError:
            raise ValueError(problem) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(problem)
        if self.minimum is not None and value < self.minimum:
            raise ValueError(problem)
        if self.maximum is not None and value > self.maximum:
            raise ValueError(problem)
        return value


HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter("estimator", str, "gradient_boosting", "which classifier to fit", choices=ESTIMATORS),
    Hyperparameter("n_estimators", int, 100, "trees (gradient_boosting, random_forest)", 1, 5000),
    Hyperparameter(
        "max_depth", int, 3, "tree depth, 0 = unlimited (gradient_boosting, random_forest)", 0, 100
    ),
    Hyperparameter("learning_rate", float, 0.1, "shrinkage (gradient_boosting)", 1e-6, 1.0),
    Hyperparameter("C", float, 1.0, "inverse regularisation strength (logistic_regression)", 1e-9, 1e9),
    Hyperparameter("min_samples_leaf", int, 1, "minimum rows per leaf (gradient_boosting, random_forest)", 1),
    Hyperparameter("random_state", int, 42, "seed, so that a fit is reproducible", 0, 2**32 - 1),
)

HYPERPARAMETERS_BY_NAME: Mapping[str, Hyperparameter] = MappingProxyType({h.name: h for h in HYPERPARAMETERS})

HYPERPARAMETER_DEFAULTS: Mapping[str, str | int | float] = MappingProxyType(
    {h.name: h.default for h in HYPERPARAMETERS}
)


def validate_hyperparameters(values: Mapping[str, object]) -> dict[str, str]:
    """Check names and values; return them as the strings a CreateTrainingJob request carries.

    Only the given names are returned (train.py applies the defaults for the others).
    Raises ValueError naming the first bad hyperparameter and what is allowed.
    """
    unknown = sorted(set(values) - set(HYPERPARAMETERS_BY_NAME))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {unknown}; expected names from {list(HYPERPARAMETERS_BY_NAME)}"
        )
    return {name: str(HYPERPARAMETERS_BY_NAME[name].parse(raw)) for name, raw in values.items()}


METRIC_ACCURACY = "validation:accuracy"
METRIC_F1 = "validation:f1"
METRIC_ROC_AUC = "validation:roc_auc"
VALIDATION_METRICS: tuple[str, ...] = (METRIC_ACCURACY, METRIC_F1, METRIC_ROC_AUC)
OBJECTIVE_METRIC = METRIC_ROC_AUC

_METRIC_VALUE_PATTERN = r"([0-9]+\.[0-9]+)"


def metric_line(name: str, value: float) -> str:
    """The log line train.py prints for a metric; ``metric_definitions()`` parses exactly this."""
    if name not in VALIDATION_METRICS:
        raise ValueError(f"unknown metric {name!r}; expected one of {list(VALIDATION_METRICS)}")
    return f"{name}={value:.6f};"


def metric_definitions() -> list[dict[str, str]]:
    """SageMaker MetricDefinitions for the training job: one regex per validation metric."""
    return [
        {"Name": name, "Regex": f"{re.escape(name)}={_METRIC_VALUE_PATTERN};"} for name in VALIDATION_METRICS
    ]


# --- channels: how the job's S3 inputs appear inside the container -------------------------------------------

DATA_CHANNELS: tuple[str, ...] = ("train", "validation")
CODE_CHANNEL = "code"
# SageMaker mounts File-mode channel <name> at /opt/ml/input/data/<name>.
CONTAINER_ROOT = "/opt/ml"
INPUT_DATA_DIR = f"{CONTAINER_ROOT}/input/data"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); anything else is a ValueError naming the value."""
    if not uri.startswith("s3://") or "/" not in uri[5:] or uri[5:].startswith("/"):
        raise ValueError(f"expected an S3 URI s3://<bucket>/<key>, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def staged_paths(prefix: str, keys: Iterable[str]) -> dict[str, str]:
    """Where each object of an S3Prefix channel lands, relative to /opt/ml/input/data/<channel>.

    A prefix that is itself an object's key (and does not end in '/') stages that one object under its own
    file name; otherwise every key under the prefix lands at its path relative to the prefix. This is the
    rule the SageMaker Python SDK's local mode applies (sagemaker.utils.download_folder).
    """
    keys = set(keys)
    if not prefix.endswith("/") and prefix in keys:
        return {prefix: prefix.rsplit("/", 1)[-1]}
    staged = {}
    for key in sorted(keys):
        relative = key[len(prefix) :].lstrip("/") if key.startswith(prefix) else ""
        if relative and not relative.endswith("/"):  # "folder/" marker objects hold no data
            staged[key] = relative
    return staged


def isolated_submit_directory(code_uri: str) -> str:
    """sagemaker_submit_directory of a network-isolated job whose code channel is the one object ``code_uri``."""
    _, key = split_s3_uri(code_uri)
    return f"{INPUT_DATA_DIR}/{CODE_CHANNEL}/{staged_paths(key, [key])[key]}"


def _one_module_under_both_names() -> None:
    module = sys.modules[__name__]
    for name in ("contract", "training.contract"):
        sys.modules.setdefault(name, module)


_one_module_under_both_names()
