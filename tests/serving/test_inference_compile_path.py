"""Compiling the fitted preprocessing, loading a model and the predict path, on pipelines of a few rows.

Fast in-process tests for the mutation run of serving/inference.py (tests/mutation/inference.toml). The
expected features come from scikit-learn's own transform of the same rows, never from the compiled code.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

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


@functools.cache
def categorical_first() -> Pipeline:
    return fitted(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["colour", "size"]),
            ("numeric", StandardScaler(), ["a", "b"]),
        ]
    )


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.ensemble", "GradientBoostingClassifier"),
        ("sklearn.ensemble", "RandomForestClassifier"),
        ("sklearn.ensemble", "ExtraTreesClassifier"),
        ("sklearn.tree", "DecisionTreeClassifier"),
        ("sklearn.tree", "ExtraTreeClassifier"),
    ],
)
def test_tree_models_take_float32(module: str, name: str) -> None:
    # Their predict validates with dtype=np.float32 (sklearn ensemble/_gb.py, ensemble/_forest.py,
    # tree/_classes.py); imported here so collecting this file stays light.
    classifier = getattr(importlib.import_module(module), name)()
    assert inference._input_dtype(classifier) == np.dtype(np.float32)


def test_other_models_take_float64() -> None:
    assert inference._input_dtype(LogisticRegression()) == np.dtype(np.float64)


def test_compiled_features_equal_the_column_transformer() -> None:
    pipeline = categorical_first()
    compiled, estimator = inference.compile_preprocessing(pipeline, FEATURES)
    assert estimator is pipeline.steps[-1][1]
    np.testing.assert_array_equal(compiled.transform(ROWS), pipeline[:-1].transform(frame(ROWS)))


def compile_error(pipeline: Any, features: Any = FEATURES) -> str:
    with pytest.raises(inference.CompileError) as caught:
        inference.compile_preprocessing(pipeline, features)
    return str(caught.value)


def test_compiled_layout_of_categorical_then_numeric_columns() -> None:
    compiled, _ = inference.compile_preprocessing(categorical_first(), FEATURES)
    assert compiled.features == 4
    assert compiled.width == 7
    assert compiled.dtype == np.dtype(np.float64)
    assert compiled.numeric_positions == (1, 2)
    assert compiled.numeric_offset == 5
    assert compiled.categorical_positions == (0, 3)
    # OneHotEncoder sorts the categories it learns.
    assert compiled.categorical_columns == ({"blue": 0, "red": 1}, {"l": 2, "m": 3, "s": 4})
    assert compiled.categorical_fill == (None, None)
    assert compiled.numeric_missing is None
    assert compiled.numeric_mean is not None and compiled.numeric_mean.shape == (2, 1)
    assert compiled.numeric_scale is not None and compiled.numeric_scale.shape == (2, 1)


def test_imputers_fill_missing_values_as_the_pipeline_does() -> None:
    pipeline = fitted(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                ["a", "b"],
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                ["colour", "size"],
            ),
        ]
    )
    compiled, _ = inference.compile_preprocessing(pipeline, FEATURES)
    assert compiled.numeric_offset == 0
    rows: list[list[Any]] = [
        ["red", np.nan, 2.0, np.nan],
        [np.nan, 1.0, np.nan, "m"],
        ["blue", 1.0, 2.0, "s"],
    ]
    expected = pipeline[:-1].transform(pd.DataFrame(rows, columns=NAMES).astype({"a": float, "b": float}))
    np.testing.assert_allclose(compiled.transform(rows), expected, rtol=0, atol=1e-15)
    # None is missing too, for numbers and categories alike.
    with_none = [[None if v is np.nan else v for v in row] for row in rows]
    np.testing.assert_allclose(compiled.transform(with_none), expected, rtol=0, atol=1e-15)
    assert compiled.numeric_missing is not None and compiled.numeric_missing.shape == (2, 1)


def test_a_nan_category_is_the_imputers_fill() -> None:
    pipeline = fitted(
        [
            ("numeric", Pipeline([("keep", "passthrough")]), ["a", "b"]),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="m")),
                        ("encode", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                ["size"],
            ),
        ]
    )
    features = (FEATURES[1], FEATURES[2], FEATURES[3])
    compiled, _ = inference.compile_preprocessing(pipeline, features)
    got = compiled.transform([[1.0, 2.0, np.nan], [3.0, 4.0, "l"], [5.0, 6.0, "x"]])
    np.testing.assert_array_equal(got, [[1, 2, 0, 1, 0], [3, 4, 1, 0, 0], [5, 6, 0, 0, 0]])


def test_passthrough_numbers_are_copied_unscaled() -> None:
    pipeline = fitted([("numeric", Pipeline([("keep", "passthrough"), ("none", None)]), ["a", "b"])])
    compiled, _ = inference.compile_preprocessing(pipeline, (FEATURES[1], FEATURES[2]))
    assert (compiled.numeric_mean, compiled.numeric_scale, compiled.numeric_missing) == (None, None, None)
    assert compiled.categorical_positions == ()
    np.testing.assert_array_equal(compiled.transform([[1.5, -2.0], [3.0, 4.0]]), [[1.5, -2.0], [3.0, 4.0]])


def test_only_categories_compile() -> None:
    pipeline = fitted([("categorical", OneHotEncoder(handle_unknown="ignore"), ["size", "colour"])])
    features = (FEATURES[0], FEATURES[3])
    compiled, _ = inference.compile_preprocessing(pipeline, features)
    assert compiled.numeric_positions == ()
    rows: list[list[Any]] = [["red", "m"], ["blue", "x"], ["pink", "s"]]
    # Columns follow the transformer's order (size, then colour), not the schema's.
    np.testing.assert_array_equal(
        compiled.transform(rows), [[0, 1, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0]]
    )


@pytest.mark.parametrize(
    ("scaler", "mean", "scale"),
    [
        ({"with_mean": False}, False, True),
        ({"with_std": False}, True, False),
        ({"with_mean": False, "with_std": False}, False, False),
    ],
)
def test_scaler_settings_compile_to_what_the_scaler_computes(
    scaler: dict[str, bool], mean: bool, scale: bool
) -> None:
    # StandardScaler.transform subtracts mean_ only with_mean and divides by scale_ only with_std (sklearn
    # preprocessing/_data.py); mean_ is fitted even with with_mean=False.
    pipeline = fitted([("numeric", StandardScaler(**scaler), ["a", "b"])])
    compiled, _ = inference.compile_preprocessing(pipeline, (FEATURES[1], FEATURES[2]))
    assert (compiled.numeric_mean is not None, compiled.numeric_scale is not None) == (mean, scale)
    rows = [[3.5, -1.0], [0.0, 7.0], [-2.0, 100.0]]
    expected = pipeline[:-1].transform(pd.DataFrame(rows, columns=["a", "b"]))
    np.testing.assert_array_equal(compiled.transform(rows), expected)


def test_transform_of_no_rows_is_an_empty_batch() -> None:
    compiled, _ = inference.compile_preprocessing(categorical_first(), FEATURES)
    got = compiled.transform([])
    assert got.shape == (0, 7)
    assert got.dtype == np.float64


def test_transform_refuses_rows_of_another_width() -> None:
    compiled, _ = inference.compile_preprocessing(categorical_first(), FEATURES)
    with pytest.raises(ValueError, match=r"^rows have 3 values, expected 4 in schema order$"):
        compiled.transform([row[:3] for row in ROWS])


def test_tree_models_get_float32_features() -> None:
    from sklearn.tree import DecisionTreeClassifier

    pipeline = fitted([("numeric", StandardScaler(), ["a", "b"])], DecisionTreeClassifier())
    compiled, _ = inference.compile_preprocessing(pipeline, (FEATURES[1], FEATURES[2]))
    got = compiled.transform([[3.5, -1.0]])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(
        got, pipeline[:-1].transform(pd.DataFrame([[3.5, -1.0]], columns=["a", "b"])).astype(np.float32)
    )


# --- what does not compile: CompileError naming the transformer and the setting ------------------------

NUMBERS = np.array([[1.0, 2.0], [3.0, 5.0], [np.nan, 4.0]])
WORDS = np.array([["red", "s"], ["blue", "m"], ["red", "l"]], dtype=object)


def block_error(call: Any, *args: Any) -> str:
    with pytest.raises(inference.CompileError) as caught:
        call(*args)
    return str(caught.value)


def test_one_step_of_a_column_transformer_entry() -> None:
    scaler = StandardScaler()
    assert inference._one_step("n", scaler) == [scaler]
    assert inference._one_step("n", "passthrough") == []
    assert inference._one_step("n", Pipeline([("a", "passthrough"), ("b", None), ("c", scaler)])) == [scaler]
    assert block_error(inference._one_step, "n", "drop") == "transformer 'n': 'drop' is not supported"


def test_a_numeric_block_of_imputer_then_scaler() -> None:
    imputer = SimpleImputer(strategy="mean").fit(NUMBERS)
    scaler = StandardScaler().fit(imputer.transform(NUMBERS))
    fill, mean, scale = inference._numeric_block("n", [imputer, scaler], 2)
    np.testing.assert_array_equal(fill, [2.0, 11 / 3])
    np.testing.assert_array_equal(mean, scaler.mean_)
    np.testing.assert_array_equal(scale, scaler.scale_)
    assert inference._numeric_block("n", [], 2) == (None, None, None)


@pytest.mark.parametrize(
    "imputer",
    [
        SimpleImputer(add_indicator=True),
        SimpleImputer(missing_values=-1.0),
        SimpleImputer(missing_values=None),
    ],
)
def test_a_numeric_imputer_other_than_nan_without_indicator_is_refused(imputer: SimpleImputer) -> None:
    imputer.statistics_ = np.array([0.0, 0.0])
    assert block_error(inference._numeric_block, "num", [imputer], 2) == (
        "transformer 'num': only a NaN imputer without indicator compiles"
    )


@pytest.mark.parametrize("statistics", [[1.0], [1.0, 2.0, 3.0], [1.0, np.nan]])
def test_a_numeric_imputer_that_drops_or_keeps_empty_columns_is_refused(statistics: list[float]) -> None:
    imputer = SimpleImputer()
    imputer.statistics_ = np.array(statistics)
    assert block_error(inference._numeric_block, "num", [imputer], 2) == (
        "transformer 'num': imputer drops or keeps empty columns"
    )


@pytest.mark.parametrize(
    "steps",
    [
        lambda: [StandardScaler().fit(NUMBERS[:2]), SimpleImputer().fit(NUMBERS)],
        lambda: [StandardScaler().fit(NUMBERS[:2]), StandardScaler().fit(NUMBERS[:2])],
        lambda: [SimpleImputer().fit(NUMBERS), SimpleImputer().fit(NUMBERS)],
    ],
)
def test_a_numeric_block_out_of_order_or_repeated_is_refused(steps: Any) -> None:
    built = steps()
    name = type(built[1]).__name__
    assert block_error(inference._numeric_block, "num", built, 2) == (
        f"transformer 'num': step {name} is not supported here"
    )


def test_a_numeric_step_other_than_imputer_and_scaler_is_refused() -> None:
    assert block_error(inference._numeric_block, "num", [MinMaxScaler().fit(NUMBERS[:2])], 2) == (
        "transformer 'num': step MinMaxScaler is not supported here"
    )


def test_a_categorical_block_of_imputer_then_encoder() -> None:
    imputer = SimpleImputer(strategy="constant", fill_value="m", missing_values=None).fit(WORDS)
    encoder = OneHotEncoder(handle_unknown="ignore").fit(WORDS)
    fills, categories = inference._categorical_block("c", [imputer, encoder], 2)
    assert fills == ["m", "m"]
    assert categories == [["blue", "red"], ["l", "m", "s"]]
    assert inference._categorical_block("c", [encoder], 2) == ([None, None], categories)


@pytest.mark.parametrize(
    "imputer",
    [
        SimpleImputer(strategy="most_frequent", add_indicator=True),
        SimpleImputer(missing_values="?", strategy="most_frequent"),
    ],
)
def test_a_categorical_imputer_other_than_nan_or_none_without_indicator_is_refused(
    imputer: SimpleImputer,
) -> None:
    encoder = OneHotEncoder(handle_unknown="ignore").fit(WORDS)
    assert block_error(inference._categorical_block, "cat", [imputer, encoder], 2) == (
        "transformer 'cat': only a NaN/None imputer without indicator compiles"
    )


@pytest.mark.parametrize(
    "steps",
    [
        lambda: [],
        lambda: [SimpleImputer(strategy="most_frequent").fit(WORDS)],
        lambda: [StandardScaler()],
        lambda: [OneHotEncoder().fit(WORDS), OneHotEncoder().fit(WORDS)],
        lambda: [
            SimpleImputer(strategy="most_frequent").fit(WORDS),
            OneHotEncoder().fit(WORDS),
            StandardScaler(),
        ],
        lambda: [StandardScaler(), OneHotEncoder().fit(WORDS)],
    ],
)
def test_a_categorical_block_other_than_imputer_and_encoder_is_refused(steps: Any) -> None:
    assert block_error(inference._categorical_block, "cat", steps(), 2) == (
        "transformer 'cat': expected [SimpleImputer,] OneHotEncoder"
    )


@pytest.mark.parametrize(
    "encoder",
    [
        OneHotEncoder(drop="first", handle_unknown="ignore"),
        OneHotEncoder(min_frequency=2, handle_unknown="infrequent_if_exist"),
        OneHotEncoder(max_categories=2, handle_unknown="infrequent_if_exist"),
    ],
)
def test_one_hot_with_drop_or_infrequent_categories_is_refused(encoder: OneHotEncoder) -> None:
    encoder.fit(WORDS)
    assert block_error(inference._categorical_block, "cat", [encoder], 2) == (
        "transformer 'cat': one-hot with drop or infrequent categories"
    )


@pytest.mark.parametrize("handle_unknown", ["ignore", "infrequent_if_exist", "warn"])
def test_one_hot_that_ignores_unknown_categories_compiles(handle_unknown: str) -> None:
    encoder = OneHotEncoder(handle_unknown=handle_unknown).fit(WORDS)
    assert inference._categorical_block("cat", [encoder], 2)[1] == [["blue", "red"], ["l", "m", "s"]]


def test_one_hot_that_raises_on_unknown_categories_is_refused() -> None:
    encoder = OneHotEncoder(handle_unknown="error").fit(WORDS)
    assert block_error(inference._categorical_block, "cat", [encoder], 2) == (
        "transformer 'cat': handle_unknown='error'"
    )


# --- the pipeline's shape and columns ------------------------------------------------------------------


def test_a_pipeline_that_is_not_column_transformer_then_estimator_is_refused() -> None:
    pipeline = categorical_first()
    transformer, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    shape = "expected a Pipeline of a ColumnTransformer and an estimator"
    assert compile_error(classifier) == shape
    assert compile_error(Pipeline([("classifier", classifier)])) == shape
    three = Pipeline([("features", transformer), ("scale", StandardScaler()), ("classifier", classifier)])
    assert compile_error(three) == shape
    first = Pipeline([("scale", StandardScaler()), ("classifier", classifier)])
    assert compile_error(first) == "first step is StandardScaler, expected a ColumnTransformer"


def test_a_final_step_without_predict_proba_is_refused() -> None:
    from sklearn.svm import SVC

    pipeline = Pipeline([("features", categorical_first().steps[0][1]), ("classifier", SVC())])
    assert compile_error(pipeline) == "final step SVC has no predict_proba"


def test_a_column_transformer_with_pandas_output_is_refused() -> None:
    pipeline = fitted([("numeric", StandardScaler(), ["a", "b"])])
    pipeline.steps[0][1].set_output(transform="pandas")
    assert (
        compile_error(pipeline, (FEATURES[1], FEATURES[2])) == "ColumnTransformer output is not a numpy array"
    )
    pipeline.steps[0][1].set_output(transform="default")
    assert inference.compile_preprocessing(pipeline, (FEATURES[1], FEATURES[2]))[0].width == 2


@pytest.mark.parametrize(
    ("transformers", "message"),
    [
        ([("n", StandardScaler(), [1, 2])], "transformer 'n': columns [1, 2] are not schema feature names"),
        (
            [("n", StandardScaler(), ["a", "x"])],
            "transformer 'n': columns ['a', 'x'] are not schema feature names",
        ),
        ([("n", StandardScaler(), "a")], "transformer 'n': columns 'a' are not schema feature names"),
        (
            [("mixed", OneHotEncoder(), ["colour", "a"])],
            "transformer 'mixed' mixes numeric and categorical columns",
        ),
        (
            [("n1", StandardScaler().fit(NUMBERS[:2, :1]), ["a"]), ("n2", StandardScaler(), ["b"])],
            "more than one numeric transformer",
        ),
    ],
)
def test_columns_the_compiler_cannot_place_are_refused(transformers: list[Any], message: str) -> None:
    class Transformer:
        def __init__(self, entries: list[Any]) -> None:
            self.transformers_ = entries

    assert block_error(inference._column_layout, Transformer(transformers), FEATURES) == message


def test_dropped_columns_and_an_empty_remainder_add_no_output() -> None:
    pipeline = fitted(
        [
            ("skip", "drop", ["colour"]),
            ("numeric", StandardScaler(), ["a", "b"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ],
    )
    compiled, _ = inference.compile_preprocessing(pipeline, FEATURES)
    assert (compiled.width, compiled.categorical_positions, compiled.numeric_positions) == (5, (3,), (1, 2))
    keep_rest = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), ["a", "b"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour", "size"]),
                    ],
                    remainder="passthrough",
                ),
            ),
            ("classifier", LogisticRegression()),
        ]
    ).fit(TRAIN, LABELS)
    assert inference.compile_preprocessing(keep_rest, FEATURES)[0].width == 7


def test_a_width_other_than_the_estimators_inputs_is_refused() -> None:
    pipeline = fitted([("numeric", StandardScaler(), ["a", "b"])])
    pipeline.steps[1][1].n_features_in_ = 3
    assert (
        compile_error(pipeline, (FEATURES[1], FEATURES[2]))
        == "compiled width 2 differs from the estimator's 3 inputs"
    )


def test_an_estimator_without_n_features_in_compiles() -> None:
    class Plain:
        def predict_proba(self, data: Any) -> np.ndarray:
            return np.zeros((len(data), 2))

    pipeline = fitted([("numeric", StandardScaler(), ["a", "b"])])
    pipeline.steps[1] = ("classifier", Plain())
    compiled, estimator = inference.compile_preprocessing(pipeline, (FEATURES[1], FEATURES[2]))
    assert (compiled.width, type(estimator)) == (2, Plain)


def test_missing_numbers_are_the_statistic_scaled() -> None:
    assert inference._missing_numbers(None, np.array([1.0]), np.array([2.0])) is None
    got = inference._missing_numbers(np.array([3.0, 5.0]), np.array([1.0, 1.0]), np.array([2.0, 4.0]))
    assert got is not None
    np.testing.assert_array_equal(got, [[1.0], [1.0]])
    got = inference._missing_numbers([3.0, 5.0], None, None)
    assert got is not None
    np.testing.assert_array_equal(got, [[3.0], [5.0]])
    assert got.dtype == np.float64


# --- load_model ------------------------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "classes": [0, 1],
    "features": [
        {"name": "colour", "type": "categorical", "categories": ["red", "blue"]},
        {"name": "a", "type": "numeric"},
        {"name": "b", "type": "numeric", "min": 0, "max": 1},
        {"name": "size", "type": "categorical", "categories": ["s", "m", "l"]},
    ],
}


def model_dir(tmp_path: Any, pipeline: Any = None, schema: Any = None, info: Any = None) -> str:
    import json

    import joblib

    joblib.dump(categorical_first() if pipeline is None else pipeline, tmp_path / "model.joblib")
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA if schema is None else schema), encoding="utf-8")
    (tmp_path / "model_info.json").write_text(
        json.dumps({"model_version": "info-v"} if info is None else info), encoding="utf-8"
    )
    return str(tmp_path)


def test_load_model_reads_the_three_files(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = inference.load_model(model_dir(tmp_path))
    assert model.schema == SCHEMA
    assert model.model_info == {"model_version": "info-v"}
    assert model.model_version == "info-v"
    assert model.max_rows == 1000
    assert model.features == FEATURES
    assert model.feature_names == ("colour", "a", "b", "size")
    assert model.feature_index == {"colour": 0, "a": 1, "b": 2, "size": 3}
    assert model.classes == (0, 1)
    assert model.response_prefix == b'{"model_version": "info-v", "classes": [0, 1], '
    assert model.compiled is not None and model.compiled.width == 7
    assert model.estimator is model.pipeline.steps[-1][1]
    assert model.kernel is not None
    assert model.response_type is None


def test_the_environment_names_the_version_and_row_limit(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGESTACK_MODEL_VERSION", "env-v")
    monkeypatch.setenv("SAGESTACK_MAX_ROWS", " 7 ")
    model = inference.load_model(model_dir(tmp_path, info={}))
    assert (model.model_version, model.max_rows) == ("env-v", 7)
    assert model.response_prefix == b'{"model_version": "env-v", "classes": [0, 1], '
    monkeypatch.setenv("SAGESTACK_MODEL_VERSION", "")
    monkeypatch.setenv("SAGESTACK_MAX_ROWS", "1")
    model = inference.load_model(model_dir(tmp_path, info={"model_version": 12}))
    assert (model.model_version, model.max_rows) == ("12", 1)


def test_a_model_without_a_version_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ValueError) as caught:
        inference.load_model(model_dir(tmp_path, info={"model_version": ""}))
    assert str(caught.value) == "model_info.json: no model_version and SAGESTACK_MODEL_VERSION is not set"


def test_classes_must_match_the_schema_when_it_names_them(tmp_path: Any) -> None:
    with pytest.raises(ValueError) as caught:
        inference.load_model(model_dir(tmp_path, schema={**SCHEMA, "classes": [1, 0]}))
    assert str(caught.value) == "model.joblib: model classes [0, 1] differ from schema.json classes [1, 0]"
    without = {key: value for key, value in SCHEMA.items() if key != "classes"}
    assert inference.load_model(model_dir(tmp_path, schema=without)).classes == (0, 1)


@pytest.mark.parametrize("raw", ["0", "-1", "x", "1.5"])
def test_a_row_limit_that_is_not_a_positive_integer_is_refused(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGESTACK_MAX_ROWS", raw)
    with pytest.raises(ValueError) as caught:
        inference._max_rows_from_env()
    assert str(caught.value) == f"SAGESTACK_MAX_ROWS: got {raw!r}, expected a positive integer"


@pytest.mark.parametrize(("raw", "rows"), [(None, 1000), ("", 1000), ("  ", 1000), ("1", 1), ("25", 25)])
def test_the_row_limit_from_the_environment(
    raw: str | None, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if raw is not None:
        monkeypatch.setenv("SAGESTACK_MAX_ROWS", raw)
    assert inference._max_rows_from_env() == rows


def test_an_uncompilable_pipeline_is_served_by_the_pipeline_and_logged(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = fitted(
        [
            ("numeric", MinMaxScaler(), ["a", "b"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour", "size"]),
        ]
    )
    with caplog.at_level(logging.WARNING, logger=inference.LOGGER.name):
        model = inference.load_model(model_dir(tmp_path, pipeline))
    assert (model.compiled, model.estimator, model.kernel) == (None, None, None)
    assert [r.getMessage() for r in caplog.records] == [
        "model.joblib: request path not compiled (transformer 'numeric': step MinMaxScaler is not supported here);"
        " serving through the Pipeline"
    ]
    np.testing.assert_array_equal(model.predict_proba(ROWS), pipeline.predict_proba(frame(ROWS)))


def test_an_estimator_without_a_kernel_keeps_its_predict_proba_and_is_logged(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    pipeline = fitted(
        [
            ("numeric", StandardScaler(), ["a", "b"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour", "size"]),
        ],
        KNeighborsClassifier(n_neighbors=3),
    )
    with caplog.at_level(logging.WARNING, logger=inference.LOGGER.name):
        model = inference.load_model(model_dir(tmp_path, pipeline))
    assert model.compiled is not None and model.kernel is None
    assert [r.getMessage() for r in caplog.records] == [
        "model.joblib: estimator not compiled (no kernel for KNeighborsClassifier); small requests call its predict_proba"
    ]
    np.testing.assert_array_equal(model.predict_proba(ROWS), pipeline.predict_proba(frame(ROWS)))


# --- schema.json -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], "schema.json: expected an object with a non-empty 'features' list"),
        ({}, "schema.json: expected an object with a non-empty 'features' list"),
        ({"features": {"a": 1}}, "schema.json: expected an object with a non-empty 'features' list"),
        ({"features": []}, "schema.json: expected an object with a non-empty 'features' list"),
        (
            {"features": [{"name": "a", "type": "numeric"}, "b"]},
            "schema.json: feature 1 needs a string 'name' and a 'type' of numeric/categorical",
        ),
        (
            {"features": [{"name": 3, "type": "numeric"}]},
            "schema.json: feature 0 needs a string 'name' and a 'type' of numeric/categorical",
        ),
        (
            {"features": [{"type": "numeric"}]},
            "schema.json: feature 0 needs a string 'name' and a 'type' of numeric/categorical",
        ),
        (
            {"features": [{"name": "a", "type": "text"}]},
            "schema.json: feature 0 needs a string 'name' and a 'type' of numeric/categorical",
        ),
        (
            {"features": [{"name": "a"}]},
            "schema.json: feature 0 needs a string 'name' and a 'type' of numeric/categorical",
        ),
        (
            {"features": [{"name": "c", "type": "categorical"}]},
            "schema.json: categorical feature 'c' needs a non-empty list of string categories",
        ),
        (
            {"features": [{"name": "c", "type": "categorical", "categories": []}]},
            "schema.json: categorical feature 'c' needs a non-empty list of string categories",
        ),
        (
            {"features": [{"name": "c", "type": "categorical", "categories": "ab"}]},
            "schema.json: categorical feature 'c' needs a non-empty list of string categories",
        ),
        (
            {"features": [{"name": "c", "type": "categorical", "categories": ["a", 1]}]},
            "schema.json: categorical feature 'c' needs a non-empty list of string categories",
        ),
        (
            {
                "features": [
                    {"name": "a", "type": "numeric"},
                    {"name": "a", "type": "categorical", "categories": ["x"]},
                ]
            },
            "schema.json: duplicate feature names in ['a', 'a']",
        ),
    ],
)
def test_a_malformed_schema_is_refused(schema: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        inference._schema_features(schema)
    assert str(caught.value) == message


def test_schema_features_in_order() -> None:
    assert inference._schema_features(SCHEMA) == FEATURES
    assert inference._schema_features(
        {"features": [{"name": "c", "type": "categorical", "categories": ["z", "a"]}]}
    ) == (inference.Feature("c", False, frozenset({"a", "z"}), "one of ['z', 'a']"),)


# --- predict_proba: compiled path, kernel size limit, finiteness -----------------------------------------


class Recorder:
    """A kernel or estimator answering fixed probabilities, recording the input and scikit-learn's
    assume_finite setting of each call."""

    def __init__(self, max_rows: int = 2) -> None:
        self.max_rows = max_rows
        self.calls: list[tuple[np.ndarray, bool]] = []

    def predict_proba(self, data: np.ndarray) -> np.ndarray:
        import sklearn

        self.calls.append((np.array(data), sklearn.get_config()["assume_finite"]))
        return np.tile(np.array([[0.25, 0.75]], dtype=np.float32), (len(data), 1))


def loaded(tmp_path: Any, pipeline: Any = None) -> inference.LoadedModel:
    return inference.load_model(model_dir(tmp_path, pipeline))


def test_the_kernel_serves_up_to_its_row_limit_and_the_estimator_beyond(tmp_path: Any) -> None:
    kernel, estimator = Recorder(max_rows=2), Recorder()
    model = dataclasses.replace(loaded(tmp_path), kernel=kernel, estimator=estimator)
    got = model.predict_proba(ROWS[:2])
    assert (len(kernel.calls), len(estimator.calls)) == (1, 0)
    np.testing.assert_array_equal(kernel.calls[0][0], categorical_first()[:-1].transform(frame(ROWS[:2])))
    assert got.tolist() == [[0.25, 0.75], [0.25, 0.75]]
    got = model.predict_proba(ROWS)
    assert (len(kernel.calls), len(estimator.calls)) == (1, 1)
    # Finite input: the estimator's own finiteness scan is skipped (scikit-learn assume_finite).
    assert estimator.calls[0][1] is True
    assert got.dtype == np.float64


def test_without_a_kernel_the_estimator_serves_every_size(tmp_path: Any) -> None:
    estimator = Recorder()
    model = dataclasses.replace(loaded(tmp_path), kernel=None, estimator=estimator)
    assert model.predict_proba(ROWS[:1]).tolist() == [[0.25, 0.75]]
    assert len(estimator.calls) == 1


def test_missing_numbers_without_imputer_reach_the_estimators_own_checks(tmp_path: Any) -> None:
    kernel, estimator = Recorder(max_rows=5), Recorder()
    model = dataclasses.replace(loaded(tmp_path), kernel=kernel, estimator=estimator)
    assert model.predict_proba([["red", np.nan, 1.0, "s"]]).dtype == np.float64
    assert kernel.calls == []
    assert len(estimator.calls) == 1
    assert estimator.calls[0][1] is False
    assert np.isnan(estimator.calls[0][0][0, 5])


def test_the_pipeline_serves_when_nothing_compiled(tmp_path: Any) -> None:
    pipeline = Recorder()
    model = dataclasses.replace(loaded(tmp_path), compiled=None, pipeline=pipeline)
    got = model.predict_proba(ROWS[:2])
    assert got.dtype == np.float64
    assert got.tolist() == [[0.25, 0.75], [0.25, 0.75]]
    assert pd.DataFrame(pipeline.calls[0][0]).values.tolist() == frame(ROWS[:2]).values.tolist()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_number_that_overflows_the_estimators_dtype_is_the_clients_400(tmp_path: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    # Tree models read float32 (sklearn tree/_classes.py _validate_X_predict): 1e300 scaled is inf there.
    pipeline = fitted(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["colour", "size"]),
            ("numeric", StandardScaler(), ["a", "b"]),
        ],
        DecisionTreeClassifier(random_state=0),
    )
    model = loaded(tmp_path, pipeline)
    rows: list[list[Any]] = [["red", 1.0, 2.0, "s"], ["blue", 3.0, 1e300, "m"], ["red", -1e300, 0.0, "s"]]
    with pytest.raises(inference.RequestError) as caught:
        model.predict_proba(rows)
    error = caught.value
    assert (error.status, error.code, error.field, error.message) == (
        400,
        "out_of_range",
        "b",
        "instance 1: b = 1e+300 is beyond the range the model takes",
    )
    rows[1][2] = 2.0
    with pytest.raises(inference.RequestError, match=r"^instance 2: a = -1e\+300 is beyond"):
        model.predict_proba(rows)
    assert model.predict_proba(rows[:2]).shape == (2, 2)


def test_model_fn_is_load_model_with_the_containers_response_type(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    class Response:
        pass

    framework = types.ModuleType("sagemaker_containers.beta.framework")
    framework.worker = types.SimpleNamespace(Response=Response)  # type: ignore[attr-defined]
    for name in ("sagemaker_containers", "sagemaker_containers.beta"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "sagemaker_containers.beta.framework", framework)
    model = inference.model_fn(model_dir(tmp_path))
    assert model.response_type is Response
    assert (model.model_version, model.feature_names) == ("info-v", ("colour", "a", "b", "size"))
    assert model.compiled is not None and model.kernel is not None


def test_rows_of_unequal_lengths_are_refused() -> None:
    compiled, _ = inference.compile_preprocessing(categorical_first(), FEATURES)
    with pytest.raises(ValueError, match=r"^zip\(\) argument 2 is shorter than argument 1$"):
        compiled.transform([ROWS[0], ROWS[1][:3]])


def test_an_unknown_category_beside_the_first_output_column_is_all_zeros() -> None:
    # The first row's "blue" is output column 0; the second row's unknown size takes the slower lookup.
    pipeline = categorical_first()
    compiled, _ = inference.compile_preprocessing(pipeline, FEATURES)
    rows: list[list[Any]] = [["blue", 1.0, 2.0, "s"], ["red", 1.0, 2.0, "xl"], ["pink", 0.0, 0.0, "l"]]
    np.testing.assert_array_equal(compiled.transform(rows), pipeline[:-1].transform(frame(rows)))


def test_a_model_info_without_a_version_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=r"^model_info\.json: no model_version"):
        inference.load_model(model_dir(tmp_path, info={"sklearn_version": "1.9.0"}))


def test_the_json_files_are_read_as_utf8_whatever_the_locale(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # JSON exchanged between systems is UTF-8 (RFC 8259, section 8.1); the locale's encoding may differ.
    opened: list[tuple[str, Any]] = []
    original = inference.Path.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append((path.name, kwargs.get("encoding")))
        return original(path, *args, **kwargs)

    directory = model_dir(tmp_path)
    monkeypatch.setattr(inference.Path, "open", spy)
    inference.load_model(directory)
    assert ("schema.json", "utf-8") in opened
    assert ("model_info.json", "utf-8") in opened


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values:UserWarning")
def test_a_categorical_column_missing_throughout_training_falls_back_to_the_pipeline(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # SimpleImputer keeps a NaN statistic for a column with no value and drops that column from its output
    # (keep_empty_features=False), so the encoder sees one column fewer than the schema places.
    train = TRAIN.assign(size=pd.Series([np.nan] * len(TRAIN), dtype=object))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [("numeric", StandardScaler(), ["a", "b"]), ("cat", categorical, ["colour", "size"])]
                ),
            ),
            ("classifier", LogisticRegression()),
        ]
    ).fit(train, LABELS)
    fitted_steps = pipeline.steps[0][1].named_transformers_["cat"].named_steps
    imputer, encoder = fitted_steps["impute"], fitted_steps["encode"]
    assert block_error(inference._categorical_block, "cat", [imputer, encoder], 2) == (
        "transformer 'cat': imputer drops or keeps empty columns"
    )
    with caplog.at_level(logging.WARNING, logger=inference.LOGGER.name):
        model = inference.load_model(model_dir(tmp_path, pipeline))
    assert model.compiled is None
    assert "imputer drops or keeps empty columns" in caplog.records[0].getMessage()
    np.testing.assert_array_equal(model.predict_proba(ROWS), pipeline.predict_proba(frame(ROWS)))


@pytest.mark.parametrize("statistics", [["red"], ["red", "s", "m"], ["red", None], [np.nan, "s"]])
def test_a_categorical_imputer_that_drops_or_keeps_empty_columns_is_refused(statistics: list[Any]) -> None:
    imputer = SimpleImputer(strategy="most_frequent")
    imputer.statistics_ = np.array(statistics, dtype=object)
    encoder = OneHotEncoder(handle_unknown="ignore").fit(WORDS)
    assert block_error(inference._categorical_block, "cat", [imputer, encoder], 2) == (
        "transformer 'cat': imputer drops or keeps empty columns"
    )


def test_a_categorical_refusal_names_its_transformer() -> None:
    pipeline = fitted(
        [("numeric", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["colour", "size"])]
    )
    assert compile_error(pipeline) == "transformer 'cat': handle_unknown='error'"
