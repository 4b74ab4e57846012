"""The scikit-learn Pipeline: feature preprocessing from the schema + the chosen classifier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import contract


def resolve_hyperparameters(overrides: Mapping[str, object] | None = None) -> dict[str, Any]:
    """Defaults from the contract, overridden and validated (ValueError naming the bad one)."""
    values: dict[str, Any] = dict(contract.HYPERPARAMETER_DEFAULTS)
    for name, raw in (overrides or {}).items():
        if name not in contract.HYPERPARAMETERS_BY_NAME:
            raise ValueError(
                f"unknown hyperparameter {name!r}; expected one of {list(contract.HYPERPARAMETERS_BY_NAME)}"
            )
        values[name] = contract.HYPERPARAMETERS_BY_NAME[name].parse(raw)
    return values


def build_preprocessor() -> ColumnTransformer:
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())],
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            (
                "one_hot",
                OneHotEncoder(
                    categories=[list(f.categories) for f in contract.CATEGORICAL_FEATURES],
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
            ),
        ],
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, [f.name for f in contract.NUMERIC_FEATURES]),
            ("categorical", categorical, [f.name for f in contract.CATEGORICAL_FEATURES]),
        ],
        remainder="drop",
    )


def build_classifier(hyperparameters: Mapping[str, Any]) -> Any:
    name = hyperparameters["estimator"]
    seed = int(hyperparameters["random_state"])
    max_depth = int(hyperparameters["max_depth"]) or None
    if name == "gradient_boosting":
        return GradientBoostingClassifier(
            n_estimators=int(hyperparameters["n_estimators"]),
            max_depth=max_depth,
            learning_rate=float(hyperparameters["learning_rate"]),
            min_samples_leaf=int(hyperparameters["min_samples_leaf"]),
            random_state=seed,
        )
    if name == "random_forest":
        return RandomForestClassifier(
            n_estimators=int(hyperparameters["n_estimators"]),
            max_depth=max_depth,
            min_samples_leaf=int(hyperparameters["min_samples_leaf"]),
            random_state=seed,
            n_jobs=1,
        )
    if name == "logistic_regression":
        return LogisticRegression(C=float(hyperparameters["C"]), max_iter=1000, random_state=seed)
    raise ValueError(f"hyperparameter 'estimator': got {name!r}, expected one of {list(contract.ESTIMATORS)}")


def build_pipeline(hyperparameters: Mapping[str, object] | None = None) -> Pipeline:
    """An unfitted Pipeline; ``predict_proba`` takes a DataFrame of the schema's feature columns."""
    resolved = resolve_hyperparameters(hyperparameters)
    return Pipeline([("features", build_preprocessor()), ("classifier", build_classifier(resolved))])
