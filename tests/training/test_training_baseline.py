from __future__ import annotations

import bisect
import itertools
import json

import numpy as np
import pandas as pd
import pytest

import baseline
import contract
import dataset


@pytest.fixture(scope="module")
def document(sample_frames) -> dict:
    train, validation = sample_frames
    probabilities = np.random.default_rng(0).random(len(validation))
    return baseline.compute_baseline(dataset.features(train), probabilities)


def test_baseline_document_has_the_shared_format(document, sample_frames):
    assert document["format_version"] == 1
    assert document["record_count"] == len(sample_frames[0])
    assert [f["name"] for f in document["features"]] == list(contract.FEATURE_NAMES)
    assert json.loads(json.dumps(document)) == document


def test_numeric_edges_increase_and_frequencies_sum_to_one(document):
    for entry in document["features"]:
        assert sum(entry["frequencies"]) == pytest.approx(1.0)
        assert all(share >= 0 for share in entry["frequencies"])
        if entry["type"] == "numeric":
            edges = entry["edges"]
            assert 1 <= len(edges) <= baseline.NUMERIC_BIN_COUNT - 1
            assert all(a < b for a, b in itertools.pairwise(edges))
            assert len(entry["frequencies"]) == len(edges) + 1
        else:
            assert entry["categories"] == list(contract.feature(entry["name"]).categories)
            assert len(entry["frequencies"]) == len(entry["categories"])


def test_continuous_feature_gets_ten_even_bins(document):
    charges = next(f for f in document["features"] if f["name"] == "monthly_charges")
    assert len(charges["edges"]) == 9
    assert all(share == pytest.approx(0.1, abs=0.01) for share in charges["frequencies"])


def test_prediction_distribution_uses_the_fixed_edges(document):
    prediction = document["prediction"]
    assert prediction["edges"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert len(prediction["frequencies"]) == 10
    assert sum(prediction["frequencies"]) == pytest.approx(1.0)


def test_bins_follow_bisect_right():
    values = np.array([0.0, 1.0, 1.0, 2.0, 2.5, 3.0, 7.0, np.nan])
    edges = [1.0, 2.5]
    present = [v for v in values if not np.isnan(v)]
    expected = np.bincount([bisect.bisect_right(edges, v) for v in present], minlength=3) / len(present)
    assert baseline.binned_frequencies(values, edges) == pytest.approx(list(expected))


def test_repeated_values_collapse_and_no_bin_is_always_empty():
    calls = np.array([0.0] * 60 + [1.0] * 25 + [2.0] * 10 + [5.0] * 5)
    edges = baseline.quantile_edges(calls)
    assert edges == [1.0, 2.0]
    assert baseline.binned_frequencies(calls, edges) == pytest.approx([0.6, 0.25, 0.15])
    assert baseline.quantile_edges(np.full(20, 4.0)) == []
    assert baseline.binned_frequencies(np.full(20, 4.0), []) == [1.0]


def test_categorical_frequencies_ignore_missing_values():
    values = pd.Series(["dsl", "dsl", "none", np.nan])
    assert baseline.category_frequencies(values, ("dsl", "fiber-optic", "none")) == pytest.approx(
        [2 / 3, 0, 1 / 3]
    )


def test_write_baseline_round_trips(document, tmp_path):
    target = tmp_path / "baseline.json"
    baseline.write_baseline(document, target)
    assert json.loads(target.read_text()) == document
