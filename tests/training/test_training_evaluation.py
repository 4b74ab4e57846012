"""The evaluation report train.py writes: SageMaker's model quality statistics for binary classification."""

from __future__ import annotations

import json

import numpy as np
import pytest

import evaluation
import train
from tests.training.test_training_train import FAST

# The binary classification example of https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-metrics.html:
# confusion matrix {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}, recall 1.0, precision 1/3, accuracy 0.5,
# best constant classifier recall 1.0, precision 0.25, accuracy 0.25, TNR 1/3, FPR 2/3, FNR 0.0.
DOC_LABELS = np.array([0, 0, 0, 1])
DOC_PREDICTIONS = np.array([0, 1, 1, 1])
DOC_VALUES = {
    "recall": 1.0,
    "precision": 0.3333333333333333,
    "accuracy": 0.5,
    "recall_best_constant_classifier": 1.0,
    "precision_best_constant_classifier": 0.25,
    "accuracy_best_constant_classifier": 0.25,
    "true_positive_rate": 1.0,
    "true_negative_rate": 0.33333333333333337,
    "false_positive_rate": 0.6666666666666666,
    "false_negative_rate": 0.0,
}


def test_the_documented_example_gives_the_documented_metrics():
    report = evaluation.evaluation_report(DOC_LABELS, DOC_PREDICTIONS, np.array([0.1, 0.6, 0.7, 0.9]))
    metrics = report["binary_classification_metrics"]
    assert metrics["confusion_matrix"] == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    for name, value in DOC_VALUES.items():
        assert metrics[name]["value"] == pytest.approx(value), name
        # Same page: standard deviation only from 200 samples up; the example's 4 give "NaN".
        assert metrics[name]["standard_deviation"] == "NaN", name
    assert report["dataset"]["item_count"] == 4
    assert metrics["auc"]["value"] == 1.0


def test_from_200_samples_each_metric_has_a_standard_deviation():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    probabilities = np.clip(labels * 0.6 + rng.normal(0.2, 0.25, 400), 0, 1)
    report = evaluation.evaluation_report(labels, (probabilities >= 0.5).astype(int), probabilities, seed=1)
    metrics = report["binary_classification_metrics"]
    deviations = {n: m["standard_deviation"] for n, m in metrics.items() if "standard_deviation" in m}
    assert deviations and all(isinstance(d, float) and 0 <= d < 0.1 for d in deviations.values())
    assert metrics["accuracy"]["standard_deviation"] > 0
    curve = metrics["receiver_operating_characteristic_curve"]
    assert curve["false_positive_rates"][0] == 0.0 and curve["true_positive_rates"][-1] == 1.0
    assert json.loads(json.dumps(report)) == report  # plain JSON: no NaN floats, no numpy types


@pytest.mark.parametrize(
    ("labels", "predictions", "probabilities", "message"),
    [
        ([0, 1], [0], [0.1, 0.9], "as many labels, predictions and probabilities"),
        ([], [], [], "at least one"),
        ([0, 2], [0, 1], [0.1, 0.9], "in {0, 1}, got [2]"),
    ],
)
def test_malformed_inputs_are_refused_naming_what_was_expected(labels, predictions, probabilities, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("{", r"\{")):
        evaluation.evaluation_report(np.array(labels), np.array(predictions), np.array(probabilities))


def test_training_writes_the_report_beside_the_model_and_into_the_checkpoint_dir(job_env, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    assert train.main([*FAST, "--checkpoint-dir", str(checkpoints)]) == 0
    report = json.loads((job_env["SM_MODEL_DIR"] / "evaluation.json").read_text())
    assert json.loads((checkpoints / "evaluation.json").read_text()) == report
    assert json.loads((job_env["SM_OUTPUT_DATA_DIR"] / "evaluation.json").read_text()) == report
    metrics = json.loads((job_env["SM_MODEL_DIR"] / "metrics.json").read_text())
    # The report and the metric lines SageMaker captures agree on the same validation predictions.
    assert report["binary_classification_metrics"]["auc"]["value"] == pytest.approx(
        metrics["validation:roc_auc"]
    )
    assert report["binary_classification_metrics"]["accuracy"]["value"] == pytest.approx(
        metrics["validation:accuracy"]
    )
    assert report["dataset"]["item_count"] == 600


def test_without_a_checkpoint_dir_the_report_stays_in_the_model_and_output(job_env, tmp_path):
    assert train.main([*FAST, "--checkpoint-dir", str(tmp_path / "absent")]) == 0
    assert not (tmp_path / "absent").exists()
    info = json.loads((job_env["SM_MODEL_DIR"] / "model_info.json").read_text())
    assert len(info["data_sha256"]) == 64
