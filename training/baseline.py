"""The drift baseline (baseline.json of docs/formats.md): what "normal" traffic looks like."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import contract

NUMERIC_BIN_COUNT = 10
PREDICTION_EDGES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def quantile_edges(values: np.ndarray, bins: int = NUMERIC_BIN_COUNT) -> list[float]:
    """Interior cut points at the 1/bins .. (bins-1)/bins quantiles, strictly increasing.

    Cuts are observed values (no interpolation), so integer features get no bins that can only be
    empty; duplicated cuts (heavy values such as 0 support calls) collapse into one, and a cut
    equal to the minimum is dropped: with ``bisect_right`` the bin below it could never hold a value.
    """
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    cuts = np.unique(np.quantile(present, np.arange(1, bins) / bins, method="lower"))
    return [float(edge) for edge in cuts if edge > present.min()]


def binned_frequencies(values: np.ndarray, edges: list[float] | tuple[float, ...]) -> list[float]:
    """Share of the non-null ``values`` in each of the len(edges)+1 bins; bin = bisect_right(edges, x)."""
    present = values[~np.isnan(values)]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=float), present, side="right"), minlength=len(edges) + 1
    )
    return [float(count) / present.size for count in counts]


def category_frequencies(values: pd.Series, categories: tuple[str, ...]) -> list[float]:
    present = values.dropna()
    counts = present.value_counts()
    return [float(counts.get(category, 0)) / len(present) for category in categories]


def compute_baseline(
    train_features: pd.DataFrame, validation_positive_probabilities: np.ndarray
) -> dict[str, Any]:
    """Feature distributions of the training rows and the prediction distribution on validation."""
    features: list[dict[str, Any]] = []
    for feature in contract.FEATURES:
        column = train_features[feature.name]
        if isinstance(feature, contract.NumericFeature):
            values = column.to_numpy(dtype=float)
            edges = quantile_edges(values)
            features.append(
                {
                    "name": feature.name,
                    "type": feature.type,
                    "edges": edges,
                    "frequencies": binned_frequencies(values, edges),
                }
            )
        else:
            features.append(
                {
                    "name": feature.name,
                    "type": feature.type,
                    "categories": list(feature.categories),
                    "frequencies": category_frequencies(column, feature.categories),
                }
            )
    probabilities = np.asarray(validation_positive_probabilities, dtype=float)
    return {
        "format_version": contract.FORMAT_VERSION,
        "record_count": len(train_features),
        "features": features,
        "prediction": {
            "edges": list(PREDICTION_EDGES),
            "frequencies": binned_frequencies(probabilities, PREDICTION_EDGES),
        },
    }


def write_baseline(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
