"""The validation evaluation report, in the shape of SageMaker Model Monitor's model quality statistics.

The model registry shows a package's ModelMetrics.ModelQuality.Statistics as this document
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-metrics.html): per metric a
``value`` and a ``standard_deviation``, the latter only from 200 samples up (80 % subsamples, 5 times),
else the string "NaN"; the confusion matrix keyed by actual, then predicted label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

REPORT_FILE = "evaluation.json"
SCHEMA_VERSION = 0.0
MIN_SAMPLES_FOR_DEVIATION = 200
SUBSAMPLE_SHARE = 0.8
SUBSAMPLE_ROUNDS = 5
NO_DEVIATION = "NaN"
CURVE_POINTS = 21  # thresholds 0.0, 0.05, ..., 1.0: enough for the console's plot, small in the registry


def _counts(labels: np.ndarray, predictions: np.ndarray) -> tuple[int, int, int, int]:
    """(true positives, false positives, true negatives, false negatives) for the positive label 1."""
    positive, predicted = labels == 1, predictions == 1
    return (
        int(np.sum(positive & predicted)),
        int(np.sum(~positive & predicted)),
        int(np.sum(~positive & ~predicted)),
        int(np.sum(positive & ~predicted)),
    )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f_beta(precision: float, recall: float, beta: float) -> float:
    return _ratio((1 + beta**2) * precision * recall, beta**2 * precision + recall)


def _auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probabilities)) if len(set(labels.tolist())) == 2 else 0.0


def point_metrics(labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Every scalar metric of the report, for one sample."""
    tp, fp, tn, fn = _counts(labels, predictions)
    total = tp + fp + tn + fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    # The best constant classifier predicts the positive label for everyone.
    constant_precision, constant_recall = _ratio(tp + fn, total), 1.0 if tp + fn else 0.0
    metrics = {
        "recall": recall,
        "precision": precision,
        "accuracy": _ratio(tp + tn, total),
        "recall_best_constant_classifier": constant_recall,
        "precision_best_constant_classifier": constant_precision,
        "accuracy_best_constant_classifier": constant_precision,
        "true_positive_rate": recall,
        "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, tn + fp),
        "false_negative_rate": _ratio(fn, tp + fn),
        "auc": _auc(labels, probabilities),
    }
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        metrics[name] = _f_beta(precision, recall, beta)
        metrics[f"{name}_best_constant_classifier"] = _f_beta(constant_precision, constant_recall, beta)
    return metrics


def _deviations(
    labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray, seed: int
) -> dict[str, float | str]:
    names = point_metrics(labels[:1], predictions[:1], probabilities[:1])
    if len(labels) < MIN_SAMPLES_FOR_DEVIATION:
        return dict.fromkeys(names, NO_DEVIATION)
    rng = np.random.default_rng(seed)
    size = int(len(labels) * SUBSAMPLE_SHARE)
    rounds = []
    for _ in range(SUBSAMPLE_ROUNDS):
        chosen = rng.choice(len(labels), size=size, replace=False)
        rounds.append(point_metrics(labels[chosen], predictions[chosen], probabilities[chosen]))
    return {name: float(np.std([r[name] for r in rounds])) for name in names}


def _curves(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, dict[str, list[float]]]:
    false_positive_rates, true_positive_rates, precisions, recalls = [], [], [], []
    for threshold in np.linspace(1.0, 0.0, CURVE_POINTS):
        tp, fp, tn, fn = _counts(labels, (probabilities >= threshold).astype(int))
        false_positive_rates.append(_ratio(fp, fp + tn))
        true_positive_rates.append(_ratio(tp, tp + fn))
        precisions.append(_ratio(tp, tp + fp) if tp + fp else 1.0)
        recalls.append(_ratio(tp, tp + fn))
    return {
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": false_positive_rates,
            "true_positive_rates": true_positive_rates,
        },
        "precision_recall_curve": {"precisions": precisions, "recalls": recalls},
    }


def evaluation_report(
    labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """The model quality statistics document for a binary classifier's validation predictions."""
    labels, predictions = np.asarray(labels).astype(int), np.asarray(predictions).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    if not len(labels) == len(predictions) == len(probabilities) or not len(labels):
        raise ValueError(
            f"evaluation needs as many labels, predictions and probabilities, at least one: got "
            f"{len(labels)}, {len(predictions)}, {len(probabilities)}"
        )
    unexpected = sorted((set(labels.tolist()) | set(predictions.tolist())) - {0, 1})
    if unexpected:
        raise ValueError(f"evaluation expects labels and predictions in {{0, 1}}, got {unexpected}")
    tp, fp, tn, fn = _counts(labels, predictions)
    values = point_metrics(labels, predictions, probabilities)
    deviations = _deviations(labels, predictions, probabilities, seed)
    metrics: dict[str, Any] = {"confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}}
    metrics.update(
        {name: {"value": value, "standard_deviation": deviations[name]} for name, value in values.items()}
    )
    metrics.update(_curves(labels, probabilities))
    return {
        "version": SCHEMA_VERSION,
        "dataset": {"item_count": len(labels)},
        "binary_classification_metrics": metrics,
    }
