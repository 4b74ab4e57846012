"""The rehearsal report: drift with the predictions' alarm state, latency markers, next steps, limits."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rehearsal import report
from rehearsal import run as rehearsal_run


def _summary(
    latencies: list[float], prediction_psi: float | None = 0.35, records: int = 200
) -> dict[str, Any]:
    features = {"tenure_months": 0.01, "monthly_charges": 0.6}
    window = {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T01:00:00+00:00"}
    return {
        "stack": "dev",
        "training": {
            "job_name": "sagestack-dev-abc",
            "accuracy": 0.8,
            "f1": 0.7,
            "roc_auc": 0.85,
            "seconds": 3,
        },
        "serving": {
            "requests": len(latencies),
            "capture_sampling_percent": 100,
            "latency_ms": {
                "p50": float(np.percentile(latencies, 50)),
                "p99": float(np.percentile(latencies, 99)),
                "samples": latencies,
            },
            "windows": {"undrifted": {"window": window}, "drifted": {"window": window}},
        },
        "drift": {
            "thresholds": {"feature_psi": 0.2, "prediction_psi": 0.25},
            "drifted_feature": "monthly_charges",
            "windows": {
                "undrifted": {
                    "records_analyzed": records,
                    "feature_drift": {k: 0.01 for k in features},
                    "prediction_drift": 0.02,
                    "alarm_names": [],
                },
                "drifted": {
                    "records_analyzed": records,
                    "feature_drift": features,
                    "prediction_drift": prediction_psi,
                    "alarm_names": ["sagestack-dev-drift-monthly-charges", "sagestack-dev-drift-predictions"],
                },
            },
        },
        "settings": {
            "latency_p99_threshold_ms": 500,
            "errors_5xx_per_minute": 1,
            "retrain_cooldown_minutes": 60,
            "deployment_strategy": "all-at-once",
            "drift_schedule_minutes": 60,
            "alarm_emails": 0,
        },
    }


def _write(tmp_path: Path, summary: dict[str, Any]) -> str:
    series = pd.Series(np.linspace(0, 100, 50))
    return report.write_report(summary, series, series + 10, tmp_path / "r.html").read_text()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report of one ordinary summary, rendered once (three matplotlib figures a render)."""
    return _write(tmp_path_factory.mktemp("report"), _summary([10.0] * 100))


def test_the_report_shows_the_prediction_psi_with_its_alarm_state(page: str) -> None:
    assert "(predictions)" in page and "0.3500 ALARM" in page and "0.0200 ok" in page
    text = report.text_summary(_summary([10.0] * 100))
    assert "(predictions)        0.3500  ALARM (threshold 0.25)" in text


def test_a_window_without_predictions_is_not_a_crash(tmp_path: Path) -> None:
    page = _write(tmp_path, _summary([10.0] * 100, prediction_psi=None))
    assert "n/a no data" in page


def test_the_report_says_what_happens_next_and_what_is_not_exercised(page: str) -> None:
    assert "What happens next when an alarm fires" in page
    assert "at most once per 60 minutes" in page and "PendingManualApproval" in page
    assert "p99 above 500 ms" in page
    assert "What this rehearsal does not exercise" in page
    assert all(html.escape(item) in page for item in report.NOT_EXERCISED)
    assert "<style>" in page and 'class="num alarm"' in page


def test_small_windows_are_flagged_as_meaningless_for_psi(tmp_path: Path, page: str) -> None:
    assert "fewer than 100 records" in _write(tmp_path, _summary([10.0] * 2, records=1))
    assert "fewer than 100 records" not in page


def test_one_outlier_does_not_squash_the_latency_plot() -> None:
    rng = np.random.default_rng(0)
    latencies = [*rng.normal(20, 3, 400).clip(5).tolist(), 30_000.0]
    limit = report.latency_axis_limit(latencies, 500)
    assert limit == 550  # the rollback threshold stays on the axis, the 30 s outlier does not
    assert report.latency_axis_clips(latencies, 500) == 1
    assert report.latency_axis_limit([10.0, 12.0], None) < 13  # no empty axis past the slowest request


def test_the_latency_plot_marks_p50_p99_and_the_threshold(tmp_path: Path, monkeypatch) -> None:
    lines: list[tuple[float, str]] = []
    original = report.plt.Axes.axvline

    def record(self, x=0, *args, **kwargs):  # type: ignore[no-untyped-def]
        lines.append((x, kwargs.get("label", "")))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(report.plt.Axes, "axvline", record)
    _write(tmp_path, _summary([10.0] * 99 + [40.0]))
    labels = [label for _, label in lines]
    assert any(label.startswith("p50 10.0 ms") for label in labels)
    assert any(label.startswith("p99 ") for label in labels)
    assert "rollback threshold (p99) 500 ms" in labels


def test_the_documented_minimum_sample_sends_valid_json() -> None:
    """--rows 50 --requests 2: one request per window; the drifted one used to carry NaN (std of one row)."""
    frames = rehearsal_run._traffic(2)
    for frame in frames.values():
        assert len(frame) == 1
        assert not frame.isna().any().any()
        json.dumps(frame.to_dict(orient="records"), allow_nan=False)
