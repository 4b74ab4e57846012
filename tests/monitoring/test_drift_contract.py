"""The drift engine reads what training writes: training's own baseline and schema, measured back.

Feeding the training rows through the engine's bins must reproduce training's frequencies (PSI 0): that
pins the bisect_right convention of docs/formats.md on both sides.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import baseline as training_baseline
import contract as training_contract
import sample_data
from monitoring.capture import CaptureDecoder
from monitoring.drift import DriftAccumulator, load_baseline, parse_schema_feature_names


@pytest.fixture(scope="module")
def training_output():
    customers = sample_data.generate_customers(4000, seed=3)
    features = customers[list(training_contract.FEATURE_NAMES)]
    probabilities = np.random.default_rng(3).uniform(size=len(features))
    document = training_baseline.compute_baseline(features, probabilities)
    return features, probabilities, json.loads(json.dumps(document)), training_contract.schema_document()


def test_training_baseline_and_schema_parse(training_output) -> None:
    _, _, document, schema = training_output
    parsed = load_baseline(json.dumps(document))
    columns = parse_schema_feature_names(schema)
    assert sorted(parsed.feature_names) == sorted(columns)
    assert CaptureDecoder(columns).feature_names == columns


def test_training_rows_measured_by_the_engine_show_no_drift(training_output) -> None:
    features, probabilities, document, schema = training_output
    accumulator = DriftAccumulator(load_baseline(json.dumps(document)), parse_schema_feature_names(schema))
    for row, probability in zip(features.itertuples(index=False), probabilities, strict=True):
        accumulator.add(
            [[value.item() if hasattr(value, "item") else value for value in row]], [float(probability)]
        )
    assert accumulator.rows == len(features)
    for name, value in accumulator.feature_psi().items():
        assert value == pytest.approx(0.0, abs=1e-9), name
    assert accumulator.prediction_psi() == pytest.approx(0.0, abs=1e-9)
