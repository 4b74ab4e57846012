"""The compiled request path equals the fitted Pipeline, for every estimator training offers (issue 13).

Expectations come from the Pipeline itself (scikit-learn's own transform and predict_proba), never from
the compiled code: |Δp| <= 1e-12, identical classes, over generated rows that cover every feature, every
category and edge values.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

import contract
import estimator
import inference
import sample_data
from tests.serving.conftest import save_model_directory

EDGE_NUMBERS = (0.0, -0.0, -1.0, 1e-300, 5e-324, -1e9, 1e12, 123456.789)
# The dtype each estimator's predict_proba converts its input to (scikit-learn 1.9.0 source):
# ensemble/_gb.py decision_function and ensemble/_forest.py _validate_X_predict call validate_data with
# dtype=np.float32; linear_model/_base.py decision_function keeps the input's float dtype.
ESTIMATOR_INPUT_DTYPE = {
    "gradient_boosting": np.float32,
    "random_forest": np.float32,
    "logistic_regression": np.float64,
}


@pytest.fixture(scope="module", params=contract.ESTIMATORS)
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> inference.LoadedModel:
    data = sample_data.generate_customers(1200, seed=5)
    pipeline = estimator.build_pipeline({"estimator": request.param, "n_estimators": 25})
    pipeline.fit(data[list(contract.FEATURE_NAMES)], data[contract.LABEL])
    return inference.load_model(
        str(save_model_directory(tmp_path_factory.mktemp("m"), request.param, pipeline))
    )


def generated_rows(count: int, seed: int) -> list[list[Any]]:
    """Rows in schema order: every category of every categorical feature, numbers from the schema range
    widened on both sides, and the edge values, each in every numeric position."""
    rng = np.random.default_rng(seed)
    rows: list[list[Any]] = []
    for index in range(count):
        row: list[Any] = []
        for feature in contract.FEATURES:
            if feature.type == "categorical":
                row.append(feature.categories[(index + len(row)) % len(feature.categories)])
            else:
                low, high = feature.min, feature.max
                span = high - low
                row.append(float(rng.uniform(low - span, high + span)))
        rows.append(row)
    numeric_positions = [i for i, f in enumerate(contract.FEATURES) if f.type == "numeric"]
    for value in EDGE_NUMBERS:
        for position in numeric_positions:
            row = list(rows[len(rows) % count])
            row[position] = value
            rows.append(row)
    return rows


def frame(model: inference.LoadedModel, rows: list[list[Any]]) -> pd.DataFrame:
    return inference._frame(model, rows)


def compiled(model: inference.LoadedModel) -> inference.CompiledPreprocessing:
    assert model.compiled is not None, "the model did not compile"
    return model.compiled


def estimator_input(model: inference.LoadedModel, rows: list[list[Any]]) -> np.ndarray:
    """The Pipeline's own features for ``rows``, in the dtype the final estimator converts them to."""
    features = model.pipeline[:-1].transform(frame(model, rows))
    return np.asarray(features, dtype=ESTIMATOR_INPUT_DTYPE[model.model_version])


def test_every_estimator_compiles(trained: inference.LoadedModel) -> None:
    assert trained.compiled is not None
    assert trained.estimator is trained.pipeline.steps[-1][1]


def test_compiled_features_equal_the_column_transformer(trained: inference.LoadedModel) -> None:
    rows = generated_rows(60, seed=1)
    got = compiled(trained).transform(rows)
    assert got.dtype == ESTIMATOR_INPUT_DTYPE[trained.model_version]
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, estimator_input(trained, rows))


@pytest.mark.parametrize("count", [1, 2, 100])
def test_compiled_features_are_exact_at_every_batch_size(trained: inference.LoadedModel, count: int) -> None:
    rows = generated_rows(count, seed=10 + count)[:count]
    np.testing.assert_array_equal(compiled(trained).transform(rows), estimator_input(trained, rows))


@pytest.mark.parametrize("count", [1, 7, 200])
def test_compiled_probabilities_equal_the_pipeline(trained: inference.LoadedModel, count: int) -> None:
    rows = generated_rows(count, seed=count)
    expected = trained.pipeline.predict_proba(frame(trained, rows))
    got = trained.predict_proba(rows)
    assert np.max(np.abs(got - expected)) <= 1e-12
    classes = np.asarray(trained.classes)
    assert classes[got.argmax(axis=1)].tolist() == trained.pipeline.predict(frame(trained, rows)).tolist()


def test_every_category_is_covered_and_one_hot(trained: inference.LoadedModel) -> None:
    rows = generated_rows(60, seed=2)
    for position, feature in enumerate(contract.FEATURES):
        if feature.type == "categorical":
            assert {row[position] for row in rows} == set(feature.categories)


def test_missing_numbers_and_categories_are_imputed_as_the_pipeline_does(
    trained: inference.LoadedModel,
) -> None:
    rows = generated_rows(12, seed=3)
    for index, row in enumerate(rows):
        row[index % len(row)] = math.nan
    np.testing.assert_array_equal(compiled(trained).transform(rows), estimator_input(trained, rows))


def test_none_is_missing_as_in_the_pipeline(trained: inference.LoadedModel) -> None:
    rows = generated_rows(12, seed=7)
    for index, row in enumerate(rows):
        row[(index * 3) % len(row)] = None
    expected = estimator_input(trained, [[math.nan if v is None else v for v in row] for row in rows])
    np.testing.assert_array_equal(compiled(trained).transform(rows), expected)


def test_an_unknown_category_is_all_zeros_as_the_encoder_ignores_it(trained: inference.LoadedModel) -> None:
    rows = generated_rows(9, seed=8)
    categorical = [i for i, f in enumerate(contract.FEATURES) if f.type == "categorical"]
    for index, row in enumerate(rows):
        row[categorical[index % len(categorical)]] = "not-a-category"
    got = compiled(trained).transform(rows)
    np.testing.assert_array_equal(got, estimator_input(trained, rows))
    # Each row lost exactly one of its one-hot ones.
    assert got[:, -sum(len(contract.FEATURES[i].categories) for i in categorical) :].sum(axis=1).tolist() == [
        len(categorical) - 1
    ] * len(rows)


def test_no_rows_is_an_empty_batch(trained: inference.LoadedModel) -> None:
    assert compiled(trained).transform([]).shape == (0, compiled(trained).width)


@pytest.mark.parametrize("cut", [1, -1])
def test_a_row_of_the_wrong_length_is_refused(trained: inference.LoadedModel, cut: int) -> None:
    rows = generated_rows(3, seed=9)[:3]
    short = [row[:-1] for row in rows] if cut == -1 else [[*row, "extra"] for row in rows]
    with pytest.raises(ValueError, match="expected 8 in schema order"):
        compiled(trained).transform(short)
    with pytest.raises(ValueError):
        compiled(trained).transform([rows[0], rows[1][:-1]])


def test_the_handler_answers_the_pipeline_probabilities(trained: inference.LoadedModel) -> None:
    rows = generated_rows(30, seed=4)
    status, body, _ = inference.handle(trained, json.dumps({"instances": rows}), "application/json", "")
    assert status == 200
    expected = trained.pipeline.predict_proba(frame(trained, rows))
    assert np.max(np.abs(np.asarray(json.loads(body)["probabilities"]) - expected)) <= 1e-12


def test_the_compiled_path_is_what_serves(trained: inference.LoadedModel) -> None:
    class Refuses:
        def predict_proba(self, data: object) -> np.ndarray:
            raise AssertionError("the Pipeline was called")

    model = dataclasses.replace(trained, pipeline=Refuses())
    rows = generated_rows(3, seed=5)
    np.testing.assert_array_equal(model.predict_proba(rows), trained.predict_proba(rows))


# --- pipelines the compiler does not reproduce fall back, and say so once ------------------------------


def fitted(pipeline: Pipeline) -> Pipeline:
    data = sample_data.generate_customers(300, seed=9)
    return pipeline.fit(data[list(contract.FEATURE_NAMES)], data[contract.LABEL])


def numeric_names() -> list[str]:
    return [f.name for f in contract.FEATURES if f.type == "numeric"]


def categorical_names() -> list[str]:
    return [f.name for f in contract.FEATURES if f.type == "categorical"]


UNCOMPILABLE: dict[str, Callable[[], Pipeline]] = {
    "min_max_scaler": lambda: Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("numeric", MinMaxScaler(), numeric_names()),
                        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical_names()),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=500)),
        ]
    ),
    "one_hot_with_drop": lambda: Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [("categorical", OneHotEncoder(drop="first", sparse_output=False), categorical_names())]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=500)),
        ]
    ),
    "no_column_transformer": lambda: Pipeline([("classifier", LogisticRegression(max_iter=500))]),
}


@pytest.mark.parametrize("name", sorted(UNCOMPILABLE))
def test_an_uncompilable_pipeline_falls_back_and_logs_once(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    build = UNCOMPILABLE[name]
    if name == "no_column_transformer":
        data = sample_data.generate_customers(300, seed=9)
        pipeline = build().fit(data[numeric_names()].to_numpy(), data[contract.LABEL])
    else:
        pipeline = fitted(build())
    directory = save_model_directory(tmp_path, name, pipeline)
    with caplog.at_level(logging.WARNING, logger=inference.LOGGER.name):
        model = inference.load_model(str(directory))
        if name != "no_column_transformer":
            rows = generated_rows(5, seed=6)
            for _ in range(3):
                np.testing.assert_array_equal(
                    model.predict_proba(rows), pipeline.predict_proba(frame(model, rows))
                )
    assert model.compiled is None
    messages = [r.getMessage() for r in caplog.records if "not compiled" in r.getMessage()]
    assert len(messages) == 1, messages


# --- StandardScaler settings: mean_ is fitted even with with_mean=False, and must then not be subtracted --


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "scaler", [{"with_mean": False}, {"with_std": False}, {"with_mean": False, "with_std": False}]
)
def test_scaler_settings_compile_to_what_the_scaler_computes(scaler: dict[str, bool], tmp_path: Path) -> None:
    pipeline = fitted(
        Pipeline(
            [
                (
                    "features",
                    ColumnTransformer(
                        [
                            ("numeric", StandardScaler(**scaler), numeric_names()),
                            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical_names()),
                        ]
                    ),
                ),
                ("classifier", LogisticRegression(max_iter=500)),
            ]
        )
    )
    model = inference.load_model(str(save_model_directory(tmp_path, "scaler", pipeline)))
    assert model.compiled is not None
    rows = generated_rows(40, seed=11)
    np.testing.assert_array_equal(
        compiled(model).transform(rows), pipeline[:-1].transform(frame(model, rows))
    )
    assert np.max(np.abs(model.predict_proba(rows) - pipeline.predict_proba(frame(model, rows)))) <= 1e-12


def outcome(predict: Any, rows: list[list[Any]]) -> Any:
    try:
        return np.asarray(predict(rows))
    except (ValueError, inference.RequestError) as error:
        return type(error)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("huge", [1e300, -1e308, 3.5e38])
def test_values_too_large_for_the_estimator_are_refused_or_served_as_the_pipeline_does(
    trained: inference.LoadedModel, huge: float
) -> None:
    # The compiled path skips scikit-learn's finiteness scan only for input it has checked finite itself:
    # a number that overflows the estimator's dtype (float32 for trees) must fail where the Pipeline fails.
    rows = generated_rows(3, seed=12)[:3]
    rows[1][2] = huge
    expected = outcome(lambda r: trained.pipeline.predict_proba(frame(trained, r)), rows)
    got = outcome(trained.predict_proba, rows)
    if isinstance(expected, type):
        assert got is inference.RequestError  # where the Pipeline fails, the client is told (test below)
    else:
        assert np.max(np.abs(got - expected)) <= 1e-12


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("huge", [1e300, -1e308, 3.5e38])
def test_a_number_beyond_the_models_range_is_the_clients_400_never_a_500(
    trained: inference.LoadedModel, huge: float
) -> None:
    # A 5xx counts toward <base>-errors-5xx, which rolls deployments back: a client must not be able to
    # cause one with a finite number. The Pipeline itself raises for these (the test above).
    rows = generated_rows(2, seed=13)[:2]
    rows[1][2] = huge
    status, body, _ = inference.handle(trained, json.dumps({"instances": rows}), "application/json", "")
    expected = outcome(lambda r: trained.pipeline.predict_proba(frame(trained, r)), rows)
    if isinstance(expected, type):
        name = trained.feature_names[2]
        assert status == 400
        assert json.loads(body)["error"] == {
            "code": "out_of_range",
            "message": f"instance 1: {name} = {huge!r} is beyond the range the model takes",
            "field": name,
        }
    else:
        assert status == 200
