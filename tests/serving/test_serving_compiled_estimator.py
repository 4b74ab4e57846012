"""The estimator kernels answer what the fitted estimator answers (issue 13, latency at the floor).

Every expectation is scikit-learn's own ``predict_proba`` on the same input, never the kernel's code:
|Δp| <= 1e-12 and identical classes over generated rows, rows on and beside every split threshold, and
every estimator and depth training offers (``max_depth=0`` is unlimited).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

import compiled_estimator
import contract
import estimator
import inference
import sample_data
from tests.serving.conftest import save_model_directory

TOLERANCE = 1e-12  # the bound on |Δp| against the Pipeline
SHAPES = {
    "gradient_boosting": {"estimator": "gradient_boosting", "n_estimators": 40},
    "gradient_boosting_deep": {"estimator": "gradient_boosting", "n_estimators": 15, "max_depth": 0},
    "random_forest": {"estimator": "random_forest", "n_estimators": 30},
    "random_forest_unlimited": {"estimator": "random_forest", "n_estimators": 20, "max_depth": 0},
    "logistic_regression": {"estimator": "logistic_regression"},
}


def fit(hyperparameters: dict[str, Any], rows: int = 900, seed: int = 3) -> Any:
    data = sample_data.generate_customers(rows, seed=seed)
    pipeline = estimator.build_pipeline(hyperparameters)
    return pipeline.fit(data[list(contract.FEATURE_NAMES)], data[contract.LABEL])


@pytest.fixture(scope="module", params=sorted(SHAPES))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> inference.LoadedModel:
    directory = save_model_directory(
        tmp_path_factory.mktemp("kernel"), request.param, fit(SHAPES[request.param])
    )
    return inference.load_model(str(directory))


def customers(count: int, seed: int) -> tuple[pd.DataFrame, list[list[Any]]]:
    """Generated customers' features: as the Pipeline's DataFrame, and as request rows in schema order."""
    frame = sample_data.generate_customers(count, seed=seed)[list(contract.FEATURE_NAMES)]
    return frame, frame.astype(object).values.tolist()


def estimator_rows(model: inference.LoadedModel, count: int, seed: int) -> np.ndarray:
    """Rows in the estimator's input space, through the compiled preprocessing of generated customers."""
    assert model.compiled is not None
    return model.compiled.transform(customers(count, seed)[1])


def threshold_rows(model: inference.LoadedModel) -> np.ndarray:
    """For tree models: a row per split, the split's feature set to its threshold as stored in the input
    dtype and to the next representable value either way (ties go left in scikit-learn's trees)."""
    features = estimator_rows(model, 1, seed=11)
    trees = getattr(model.estimator, "estimators_", None)
    if trees is None:
        return features
    dtype = features.dtype.type
    rows = []
    for member in np.ravel(trees)[:6]:
        tree = member.tree_
        for node in np.flatnonzero(tree.children_left != -1)[:20]:
            at = dtype(tree.threshold[node])
            for value in (at, np.nextafter(at, dtype(np.inf)), np.nextafter(at, dtype(-np.inf))):
                row = features[0].copy()
                row[tree.feature[node]] = value
                rows.append(row)
    return np.ascontiguousarray(rows)


def assert_same_answers(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    assert float(np.max(np.abs(got - expected))) <= TOLERANCE
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))


def test_every_estimator_training_offers_has_a_kernel(model: inference.LoadedModel) -> None:
    assert model.kernel is not None


@pytest.mark.parametrize("count", [1, 2, 8, 64, 300])
def test_the_kernel_answers_the_estimator_on_generated_rows(model: inference.LoadedModel, count: int) -> None:
    assert model.kernel is not None
    features = estimator_rows(model, count, seed=count)
    assert_same_answers(model.kernel.predict_proba(features), model.estimator.predict_proba(features))


def test_the_kernel_answers_the_estimator_on_and_beside_every_threshold(model: inference.LoadedModel) -> None:
    assert model.kernel is not None
    features = threshold_rows(model)
    assert_same_answers(model.kernel.predict_proba(features), model.estimator.predict_proba(features))


def test_the_kernel_is_bit_exact_on_the_models_we_train(model: inference.LoadedModel) -> None:
    # Same operations in the same order as scikit-learn 1.9 (the docstring's claim), so equal, not close.
    assert model.kernel is not None
    features = estimator_rows(model, 200, seed=21)
    np.testing.assert_array_equal(
        model.kernel.predict_proba(features), model.estimator.predict_proba(features)
    )


def test_requests_answer_the_pipeline_through_the_kernel(model: inference.LoadedModel) -> None:
    frame, rows = customers(3, seed=8)
    status, body, _ = inference.handle(model, json.dumps({"instances": rows}), "application/json", "")
    assert status == 200
    expected = model.pipeline.predict_proba(frame)
    assert_same_answers(np.asarray(json.loads(body)["probabilities"]), expected)


class Refuses:
    def predict_proba(self, features: object) -> np.ndarray:
        raise AssertionError("called")


@pytest.mark.parametrize("largest", [False, True])
def test_small_requests_use_the_kernel_not_the_estimator(model: inference.LoadedModel, largest: bool) -> None:
    assert model.kernel is not None
    count = model.kernel.max_rows if largest else 1
    frame, rows = customers(count, seed=2)
    served = dataclasses.replace(model, estimator=Refuses(), pipeline=Refuses())
    assert_same_answers(served.predict_proba(rows), model.pipeline.predict_proba(frame))


def test_larger_requests_use_the_estimator_not_the_kernel(model: inference.LoadedModel) -> None:
    assert model.kernel is not None
    count = model.kernel.max_rows + 1
    frame, rows = customers(count, seed=2)
    refusing = Refuses()
    refusing.max_rows = model.kernel.max_rows  # type: ignore[attr-defined]
    served = dataclasses.replace(model, kernel=refusing)
    assert_same_answers(served.predict_proba(rows), model.pipeline.predict_proba(frame))


# --- what the kernels do not reproduce is refused, named, and served by the estimator ---------------------


def fitted_estimator(classifier: Any, classes: int = 2) -> Any:
    rng = np.random.default_rng(4)
    features = rng.normal(size=(300, 5)).astype(np.float32)
    labels = (features[:, 0] * 2 + rng.normal(size=300) > 0).astype(int) + (
        (features[:, 1] > 1).astype(int) if classes == 3 else 0
    )
    return classifier.fit(features, labels)


class ScaledLogistic(LogisticRegression):
    """A subclass may predict differently: the kernel must not assume it does not."""


REFUSED = {
    "exponential_loss": (
        lambda: GradientBoostingClassifier(loss="exponential", n_estimators=5),
        2,
        "exponential",
    ),
    "three_classes": (lambda: GradientBoostingClassifier(n_estimators=5), 3, "3 classes"),
    "input_dependent_init": (
        lambda: GradientBoostingClassifier(n_estimators=5, init=LogisticRegression()),
        2,
        "depends on the input",
    ),
    "dummy_not_prior": (
        lambda: GradientBoostingClassifier(n_estimators=5, init=DummyClassifier(strategy="stratified")),
        2,
        "depends on the input",
    ),
    "three_class_logistic": (lambda: LogisticRegression(), 3, "3 classes"),
    "subclass": (lambda: ScaledLogistic(), 2, "no kernel for ScaledLogistic"),
    "other_estimator": (lambda: GaussianNB(), 2, "no kernel for GaussianNB"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_an_estimator_without_a_kernel_is_refused_naming_why(name: str) -> None:
    build, classes, reason = REFUSED[name]
    with pytest.raises(compiled_estimator.KernelError, match=reason):
        compiled_estimator.compile_estimator(fitted_estimator(build(), classes))


def test_gradient_boosting_from_zero_has_a_kernel() -> None:
    fitted = fitted_estimator(GradientBoostingClassifier(n_estimators=10, init="zero"))
    features = np.random.default_rng(5).normal(size=(50, 5)).astype(np.float32)
    kernel = compiled_estimator.load_kernel(fitted, 5, np.dtype(np.float32))
    assert_same_answers(kernel.predict_proba(features), fitted.predict_proba(features))


def test_a_kernel_that_disagrees_at_load_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted = fitted_estimator(RandomForestClassifier(n_estimators=5, random_state=0))
    honest = compiled_estimator.compile_estimator(fitted)
    assert isinstance(honest, compiled_estimator.ForestKernel)
    forest = honest.forest
    # One split threshold nudged: the probes sit on and beside every threshold, so the load check sees it.
    split = int(np.flatnonzero(forest.children[0::2] != np.arange(len(forest.feature)))[0])
    threshold = forest.threshold.copy()
    threshold[split] += 0.25
    wrong = compiled_estimator.ForestKernel(dataclasses.replace(forest, threshold=threshold))
    monkeypatch.setattr(compiled_estimator, "compile_estimator", lambda estimator: wrong)
    with pytest.raises(compiled_estimator.KernelError, match="differs from the estimator"):
        compiled_estimator.load_kernel(fitted, 5, np.dtype(np.float32))


def test_a_kernel_wrong_only_at_one_float32_step_past_a_threshold_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The smallest disagreement a float32 request can reveal: one split moved up to the next float32 value,
    # so only an input equal to that value is routed differently. Random rows would almost never hold it;
    # the probes hold every threshold's neighbours, so the load check must see it. A stump, so the two
    # sides of its split are leaves with different values (deeper trees may reach equal pure leaves).
    fitted = fitted_estimator(RandomForestClassifier(n_estimators=1, max_depth=1, random_state=0))
    honest = compiled_estimator.compile_estimator(fitted)
    assert isinstance(honest, compiled_estimator.ForestKernel)
    forest = honest.forest
    split = int(np.flatnonzero(forest.children[0::2] != np.arange(len(forest.feature)))[0])
    threshold = forest.threshold.copy()
    threshold[split] = float(np.nextafter(np.float32(threshold[split]), np.float32(np.inf)))
    wrong = compiled_estimator.ForestKernel(dataclasses.replace(forest, threshold=threshold))
    monkeypatch.setattr(compiled_estimator, "compile_estimator", lambda estimator: wrong)
    with pytest.raises(compiled_estimator.KernelError, match="differs from the estimator"):
        compiled_estimator.load_kernel(fitted, 5, np.dtype(np.float32))


def test_a_model_without_a_kernel_serves_through_the_estimator_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = fit(SHAPES["logistic_regression"], rows=300)

    def refuse(estimator: Any) -> compiled_estimator.Kernel:
        raise compiled_estimator.KernelError("no kernel for this test")

    monkeypatch.setattr(compiled_estimator, "compile_estimator", refuse)
    with caplog.at_level(logging.WARNING, logger=inference.LOGGER.name):
        model = inference.load_model(str(save_model_directory(tmp_path, "no-kernel", pipeline)))
        frame, rows = customers(2, seed=6)
        for _ in range(3):
            assert_same_answers(model.predict_proba(rows), pipeline.predict_proba(frame))
    assert model.kernel is None and model.compiled is not None
    messages = [r.getMessage() for r in caplog.records if "estimator not compiled" in r.getMessage()]
    assert messages == [
        "model.joblib: estimator not compiled (no kernel for this test); small requests call its predict_proba"
    ]
