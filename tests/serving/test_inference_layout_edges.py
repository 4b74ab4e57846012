"""ColumnTransformer layouts at their edges: transformers with no column, the remainder, fitted statistics' dtypes.

Fast in-process tests for the mutation run of serving/inference.py (tests/mutation/inference.toml). Every
expected feature row is scikit-learn's own transform of the same rows, never the compiled code's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import inference

# Schema order: colour (categorical), a, b (numeric).
FEATURES = (
    inference.Feature("colour", False, frozenset({"red", "blue"}), "one of ['red', 'blue']"),
    inference.Feature("a", True, frozenset(), "a finite number"),
    inference.Feature("b", True, frozenset(), "a finite number"),
)
NAMES = [feature.name for feature in FEATURES]
TRAIN = pd.DataFrame(
    {
        "colour": ["red", "blue", "red", "blue", "red", "blue"],
        "a": [1.0, 2.0, 4.0, 8.0, 16.0, 3.0],
        "b": [-5.0, 0.0, 5.0, 10.0, 2.5, 1.0],
    }
)
LABELS = np.array([0, 1, 0, 1, 1, 0])
ROWS: list[list[Any]] = [["blue", 3.5, -1.0], ["red", 0.0, 7.0], ["pink", -2.0, 100.0]]


def fitted(transformer: ColumnTransformer, classifier: Any = None, train: pd.DataFrame = TRAIN) -> Pipeline:
    final = LogisticRegression() if classifier is None else classifier
    return Pipeline([("features", transformer), ("classifier", final)]).fit(train, LABELS)


def frame(rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=NAMES).astype({"a": np.float64, "b": np.float64})


SCHEMA = {
    "classes": [0, 1],
    "features": [
        {"name": "colour", "type": "categorical", "categories": ["red", "blue"]},
        {"name": "a", "type": "numeric"},
        {"name": "b", "type": "numeric"},
    ],
}


def loaded(tmp_path: Path, pipeline: Pipeline) -> inference.LoadedModel:
    joblib.dump(pipeline, tmp_path / "model.joblib")
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    (tmp_path / "model_info.json").write_text(json.dumps({"model_version": "v1"}), encoding="utf-8")
    return inference.load_model(str(tmp_path))


def one_hot() -> OneHotEncoder:
    return OneHotEncoder(handle_unknown="ignore")


def assert_compiles_to_the_pipelines_features(pipeline: Pipeline, rows: list[list[Any]] = ROWS) -> None:
    compiled, estimator = inference.compile_preprocessing(pipeline, FEATURES)
    assert estimator is pipeline.steps[-1][1]
    np.testing.assert_array_equal(compiled.transform(rows), pipeline[:-1].transform(frame(rows)))


@pytest.mark.parametrize(
    "transformers",
    [
        [
            ("nothing", StandardScaler(), []),
            ("cat", one_hot(), ["colour"]),
            ("num", StandardScaler(), ["a", "b"]),
        ],
        [
            ("cat", one_hot(), ["colour"]),
            ("nothing", StandardScaler(), []),
            ("num", StandardScaler(), ["a", "b"]),
        ],
        [("num", StandardScaler(), ["a", "b"]), ("nothing", one_hot(), ()), ("cat", one_hot(), ["colour"])],
        # No other numeric block: a and b fall to the dropped remainder.
        [("cat", one_hot(), ["colour"]), ("nothing", StandardScaler(), [])],
    ],
    ids=["first", "between", "empty-tuple", "no-numbers"],
)
def test_a_transformer_that_selects_no_column_adds_no_output(transformers: list[Any]) -> None:
    # scikit-learn keeps a transformer that selects no column unfitted in transformers_ and skips it in
    # transform (ColumnTransformer.transformers_ docs; _column_transformer.py _update_fitted_transformers).
    pipeline = fitted(ColumnTransformer(transformers))
    empty = [step for _, step, columns in pipeline[0].transformers_ if len(columns) == 0]
    assert len(empty) == 1 and not hasattr(empty[0], "n_features_in_")
    assert_compiles_to_the_pipelines_features(pipeline)


def test_a_model_with_a_transformer_that_selects_no_column_loads_compiled(tmp_path: Path) -> None:
    pipeline = fitted(ColumnTransformer([("cat", one_hot(), ["colour"]), ("nothing", StandardScaler(), [])]))
    model = loaded(tmp_path, pipeline)
    assert model.compiled is not None
    np.testing.assert_allclose(model.predict_proba(ROWS), pipeline.predict_proba(frame(ROWS)), rtol=1e-12)
