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
from sklearn.impute import SimpleImputer
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


def test_a_remainder_estimator_is_placed_after_the_named_transformers() -> None:
    # transformers_ ends with ("remainder", fitted estimator, remaining columns) when columns remain
    # (ColumnTransformer.transformers_ docs), and its output comes last.
    pipeline = fitted(ColumnTransformer([("cat", one_hot(), ["colour"])], remainder=StandardScaler()))
    assert [name for name, _, _ in pipeline[0].transformers_] == ["cat", "remainder"]
    compiled, _ = inference.compile_preprocessing(pipeline, FEATURES)
    assert (compiled.width, compiled.numeric_positions, compiled.numeric_offset) == (4, (1, 2), 2)
    assert_compiles_to_the_pipelines_features(pipeline)


def test_a_dropped_remainder_adds_no_output() -> None:
    pipeline = fitted(ColumnTransformer([("num", StandardScaler(), ["b", "a"])], remainder="drop"))
    assert pipeline[0].transformers_[-1][:2] == ("remainder", "drop")
    compiled, _ = inference.compile_preprocessing(pipeline, FEATURES)
    assert (compiled.width, compiled.numeric_positions, compiled.categorical_positions) == (2, (2, 1), ())
    assert_compiles_to_the_pipelines_features(pipeline)


def test_a_passthrough_remainder_is_refused_by_its_name() -> None:
    # A fitted 'passthrough' that selects columns is a FunctionTransformer (ColumnTransformer.transformers_
    # docs), which the compiler does not reproduce: the model is then served through the Pipeline.
    pipeline = fitted(ColumnTransformer([("cat", one_hot(), ["colour"])], remainder="passthrough"))
    with pytest.raises(inference.CompileError) as caught:
        inference.compile_preprocessing(pipeline, FEATURES)
    assert str(caught.value) == "transformer 'remainder': step FunctionTransformer is not supported here"


def test_a_string_step_other_than_drop_or_passthrough_is_refused_by_its_transformers_name() -> None:
    # ColumnTransformer.fit refuses such a string; a model file edited by hand could still hold one.
    class Transformer:
        def __init__(self) -> None:
            self.transformers_ = [("cat", "drop", ["colour"]), ("odd", "scale", ["a", "b"])]

    with pytest.raises(inference.CompileError) as caught:
        inference._column_layout(Transformer(), FEATURES)
    assert str(caught.value) == "transformer 'odd': 'scale' is not supported"


# --- fitted statistics' dtypes -----------------------------------------------------------------------------


def constant_imputer_pipeline() -> Pipeline:
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="constant", fill_value=0)), ("scale", StandardScaler())]
    )
    return fitted(ColumnTransformer([("cat", one_hot(), ["colour"]), ("num", numeric, ["a", "b"])]))


def test_a_constant_imputers_object_statistics_compile_to_the_pipelines_fill() -> None:
    # SimpleImputer(strategy="constant") stores its statistics_ as an object array (sklearn impute/_base.py,
    # _dense_fit: np.full(..., fill_value, dtype=np.object_)), numbers or not.
    pipeline = constant_imputer_pipeline()
    assert pipeline[0].named_transformers_["num"][0].statistics_.dtype == np.dtype(object)
    rows: list[list[Any]] = [["red", np.nan, 7.0], ["blue", 3.5, None], ["red", None, np.nan], *ROWS]
    assert_compiles_to_the_pipelines_features(pipeline, rows)


def test_the_missing_number_of_object_statistics_is_float64_as_the_pipeline_computes_it() -> None:
    numeric = constant_imputer_pipeline()[0].named_transformers_["num"]
    imputer, scaler = numeric[0], numeric[1]
    got = inference._missing_numbers(imputer.statistics_, scaler.mean_, scaler.scale_)
    assert got is not None and got.dtype == np.float64 and got.shape == (2, 1)
    expected = numeric.transform(pd.DataFrame([[np.nan, np.nan]], columns=["a", "b"]))
    np.testing.assert_array_equal(got.T, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int64])
def test_scaler_statistics_of_narrower_training_columns_are_float64(dtype: type) -> None:
    # StandardScaler sums in the widest float (sklearn utils/extmath.py _incremental_mean_and_var,
    # _max_precision_float_dtype: float64 for numpy), so mean_ and scale_ are float64 whatever the input.
    train = TRAIN.astype({"a": dtype, "b": dtype})
    pipeline = fitted(ColumnTransformer([("num", StandardScaler(), ["a", "b"])]), train=train)
    scaler = pipeline[0].named_transformers_["num"]
    assert (scaler.mean_.dtype, scaler.scale_.dtype) == (np.dtype(np.float64), np.dtype(np.float64))
    assert_compiles_to_the_pipelines_features(pipeline)


def test_a_tree_model_loads_its_kernel_checked_in_float32(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    classifier = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
    pipeline = fitted(
        ColumnTransformer([("cat", one_hot(), ["colour"]), ("num", StandardScaler(), ["a", "b"])]), classifier
    )
    model = loaded(tmp_path, pipeline)
    assert model.compiled is not None and model.compiled.dtype == np.dtype(np.float32)
    assert model.kernel is not None
    np.testing.assert_allclose(model.predict_proba(ROWS), pipeline.predict_proba(frame(ROWS)), atol=1e-12)
