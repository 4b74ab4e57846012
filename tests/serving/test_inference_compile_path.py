"""Compiling the fitted preprocessing, loading a model and the predict path, on pipelines of a few rows.

Fast in-process tests for the mutation run of serving/inference.py (tests/mutation/inference.toml). The
expected features come from scikit-learn's own transform of the same rows, never from the compiled code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

import inference

# Schema order: colour (categorical), a, b (numeric), size (categorical).
FEATURES = (
    inference.Feature("colour", False, frozenset({"red", "blue"}), "one of ['red', 'blue']"),
    inference.Feature("a", True, frozenset(), "a finite number"),
    inference.Feature("b", True, frozenset(), "a finite number"),
    inference.Feature("size", False, frozenset({"s", "m", "l"}), "one of ['s', 'm', 'l']"),
)
NAMES = [feature.name for feature in FEATURES]
TRAIN = pd.DataFrame(
    {
        "colour": ["red", "blue", "red", "blue", "red", "blue"],
        "a": [1.0, 2.0, 4.0, 8.0, 16.0, 3.0],
        "b": [-5.0, 0.0, 5.0, 10.0, 2.5, 1.0],
        "size": ["s", "m", "l", "s", "m", "l"],
    }
)
LABELS = np.array([0, 1, 0, 1, 1, 0])
ROWS: list[list[Any]] = [["blue", 3.5, -1.0, "l"], ["red", 0.0, 7.0, "s"], ["blue", -2.0, 100.0, "m"]]


def fitted(transformers: list[Any], classifier: Any = None) -> Pipeline:
    final = LogisticRegression() if classifier is None else classifier
    pipeline = Pipeline([("features", ColumnTransformer(transformers)), ("classifier", final)])
    return pipeline.fit(TRAIN, LABELS)


def frame(rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=NAMES).astype({"a": np.float64, "b": np.float64})


def categorical_first() -> Pipeline:
    return fitted(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["colour", "size"]),
            ("numeric", StandardScaler(), ["a", "b"]),
        ]
    )


@pytest.mark.parametrize(
    "classifier",
    [
        GradientBoostingClassifier(n_estimators=2),
        RandomForestClassifier(n_estimators=2),
        ExtraTreesClassifier(n_estimators=2),
        DecisionTreeClassifier(),
        ExtraTreeClassifier(),
    ],
)
def test_tree_models_take_float32(classifier: Any) -> None:
    # Their predict validates with dtype=np.float32 (sklearn ensemble/_gb.py, ensemble/_forest.py, tree/_classes.py).
    assert inference._input_dtype(classifier) == np.dtype(np.float32)


def test_other_models_take_float64() -> None:
    assert inference._input_dtype(LogisticRegression()) == np.dtype(np.float64)


def test_compiled_features_equal_the_column_transformer() -> None:
    pipeline = categorical_first()
    compiled, estimator = inference.compile_preprocessing(pipeline, FEATURES)
    assert estimator is pipeline.steps[-1][1]
    np.testing.assert_array_equal(compiled.transform(ROWS), pipeline[:-1].transform(frame(ROWS)))
