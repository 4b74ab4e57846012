from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import contract
import dataset
import estimator


@pytest.fixture(scope="module")
def small_train(sample_frames) -> pd.DataFrame:
    return sample_frames[0].head(600)


def fit(hyperparameters: dict[str, object], data: pd.DataFrame):
    pipeline = estimator.build_pipeline({"n_estimators": 20, **hyperparameters})
    return pipeline.fit(dataset.features(data), dataset.labels(data))


@pytest.mark.parametrize("name", contract.ESTIMATORS)
def test_same_seed_gives_identical_predictions(name, small_train, sample_frames):
    validation = dataset.features(sample_frames[1])
    first = fit({"estimator": name, "random_state": 3}, small_train).predict_proba(validation)
    second = fit({"estimator": name, "random_state": 3}, small_train).predict_proba(validation)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (len(validation), 2)


def test_seed_changes_a_randomised_estimator(small_train, sample_frames):
    validation = dataset.features(sample_frames[1])
    first = fit({"estimator": "random_forest", "random_state": 1}, small_train).predict_proba(validation)
    second = fit({"estimator": "random_forest", "random_state": 2}, small_train).predict_proba(validation)
    assert not np.array_equal(first, second)


def test_hyperparameters_reach_the_classifier():
    pipeline = estimator.build_pipeline({"estimator": "logistic_regression", "C": "0.25", "random_state": 9})
    classifier = pipeline.named_steps["classifier"]
    assert type(classifier).__name__ == "LogisticRegression"
    assert classifier.C == 0.25
    assert classifier.random_state == 9
    forest = estimator.build_pipeline({"estimator": "random_forest", "max_depth": 0, "min_samples_leaf": 4})
    assert forest.named_steps["classifier"].max_depth is None
    assert forest.named_steps["classifier"].min_samples_leaf == 4
    boosting = estimator.build_pipeline({})
    assert type(boosting.named_steps["classifier"]).__name__ == "GradientBoostingClassifier"
    assert (
        boosting.named_steps["classifier"].learning_rate == contract.HYPERPARAMETER_DEFAULTS["learning_rate"]
    )


def test_predict_proba_takes_schema_ordered_frames_with_gaps_and_unknown_categories(small_train):
    pipeline = fit({"estimator": "gradient_boosting"}, small_train)
    request = pd.DataFrame(
        [
            [12, 70.5, 846.0, 2, 40, "month-to-month", "electronic-check", "fiber-optic"],
            [np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
            [60, 20.0, 1200.0, 0, 70, "two-year", "carrier-pigeon", "none"],
        ],
        columns=list(contract.FEATURE_NAMES),
    )
    probabilities = pipeline.predict_proba(request)
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert list(pipeline.classes_) == [0, 1]


def test_unknown_hyperparameter_is_rejected():
    with pytest.raises(ValueError, match="unknown hyperparameter 'depth'"):
        estimator.build_pipeline({"depth": 3})


def test_bad_hyperparameter_value_is_rejected():
    with pytest.raises(ValueError, match="'estimator': got 'xgboost'"):
        estimator.build_pipeline({"estimator": "xgboost"})
