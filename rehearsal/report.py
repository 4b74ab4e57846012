"""The rehearsal's text summary and its HTML report (plots rendered with matplotlib's Agg backend)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def text_summary(summary: dict[str, Any]) -> str:
    t, s, d = summary["training"], summary["serving"], summary["drift"]
    lines = [
        f"rehearsal summary for stack {summary['stack']}",
        f"  training  {t['job_name']}: accuracy {t['accuracy']:.3f}, F1 {t['f1']:.3f}, "
        f"ROC AUC {t['roc_auc']:.3f} ({t['seconds']} s)",
        f"  serving   {s['requests']} requests, latency p50 {s['latency_ms']['p50']:.1f} ms, "
        f"p99 {s['latency_ms']['p99']:.1f} ms, capture sampling {s['capture_sampling_percent']}%",
    ]
    threshold = d["thresholds"]["feature_psi"]
    for name, window in d["windows"].items():
        bounds = s["windows"][name]["window"]
        lines.append(
            f"  drift     window {name} [{bounds['start']} .. {bounds['end']}), "
            f"{window['records_analyzed']} records, feature threshold PSI > {threshold}:"
        )
        for feature, psi in window["feature_drift"].items():
            flag = "ALARM" if psi > threshold else "ok"
            lines.append(f"              {feature:<18} {psi:8.4f}  {flag}")
        prediction = window["prediction_drift"]
        lines.append(
            f"              {'(predictions)':<18} {prediction:8.4f}  "
            f"(threshold {d['thresholds']['prediction_psi']})"
        )
        firing = ", ".join(window["alarm_names"]) or "none"
        lines.append(f"              alarms that would fire: {firing}")
    if "report" in summary:
        lines.append(f"  report    {summary['report']}")
    return "\n".join(lines)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _drift_plot(summary: dict[str, Any]) -> str:
    drift = summary["drift"]
    windows = drift["windows"]
    features = list(next(iter(windows.values()))["feature_drift"])
    figure, axis = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(windows)
    for offset, (name, window) in enumerate(windows.items()):
        positions = [index + offset * width for index in range(len(features))]
        axis.bar(positions, [window["feature_drift"][f] for f in features], width, label=f"{name} window")
    axis.axhline(drift["thresholds"]["feature_psi"], color="red", linestyle="--", label="alarm threshold")
    axis.set_xticks([index + width * (len(windows) - 1) / 2 for index in range(len(features))])
    axis.set_xticklabels(features, rotation=30, ha="right")
    axis.set_ylabel("PSI")
    axis.set_title("Feature drift per window")
    axis.legend()
    return _png(figure)


def _distribution_plot(feature: str, baseline: pd.Series, live: pd.Series) -> str:
    figure, axis = plt.subplots(figsize=(9, 4))
    axis.hist(baseline, bins=40, density=True, alpha=0.5, label="baseline (training data)")
    axis.hist(live, bins=40, density=True, alpha=0.5, label="live (drifted window)")
    axis.set_xlabel(feature)
    axis.set_ylabel("density")
    axis.set_title(f"{feature}: baseline vs live")
    axis.legend()
    return _png(figure)


def _latency_plot(latencies: list[float]) -> str:
    figure, axis = plt.subplots(figsize=(9, 4))
    axis.hist(latencies, bins=50)
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("requests")
    axis.set_title("Serving latency per request")
    return _png(figure)


def write_report(summary: dict[str, Any], baseline: pd.Series, live: pd.Series, path: Path) -> Path:
    """A self-contained HTML page (plots embedded as base64 PNGs) at `path`."""
    feature = summary["drift"]["drifted_feature"]
    plots = [
        ("Drift per feature", _drift_plot(summary)),
        (f"Baseline vs live: {feature}", _distribution_plot(feature, baseline, live)),
        ("Latency", _latency_plot(summary["serving"]["latency_ms"]["samples"])),
    ]
    sections = "\n".join(
        f'<h2>{html.escape(title)}</h2>\n<img alt="{html.escape(title)}" src="data:image/png;base64,{png}">'
        for title, png in plots
    )
    page = (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>sagestack rehearsal: {html.escape(summary['stack'])}</title></head><body>\n"
        f"<h1>sagestack local rehearsal: stack {html.escape(summary['stack'])}</h1>\n"
        f"<pre>{html.escape(text_summary(summary))}</pre>\n{sections}\n</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
