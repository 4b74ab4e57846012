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
import numpy as np
import pandas as pd

# Below this many records a window's PSI is dominated by empty bins and means little.
MIN_RECORDS_FOR_PSI = 100


def text_summary(summary: dict[str, Any]) -> str:
    t, s, d = summary["training"], summary["serving"], summary["drift"]
    lines = [
        f"rehearsal summary for stack {summary['stack']}{_served_by(summary)}",
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
            f"              {'(predictions)':<18} {_psi(prediction)}  "
            f"{_prediction_state(prediction, d['thresholds']['prediction_psi'])} "
            f"(threshold {d['thresholds']['prediction_psi']})"
        )
        firing = ", ".join(window["alarm_names"]) or "none"
        lines.append(f"              alarms that would fire: {firing}")
    lines += promotion_lines(summary)
    if "report" in summary:
        lines.append(f"  report    {summary['report']}")
    return "\n".join(lines)


def _served_by(summary: dict[str, Any]) -> str:
    target = summary.get("promotion", {}).get("target_stack", summary["stack"])
    return "" if target == summary["stack"] else f", promoted to and served by stack {target}"


def promotion_lines(summary: dict[str, Any]) -> list[str]:
    """Which package was promoted where, and what drift measured after a rollback to the older one."""
    promotion, rollback = summary.get("promotion"), summary.get("rollback")
    if not promotion:
        return []
    lines = [
        f"  promoted  {promotion['package_arn']} to stack {promotion['target_stack']} "
        f"(endpoint {promotion['target_endpoint']}); drift measured against it",
    ]
    if rollback:
        lines.append(
            f"  rollback  endpoint back on {rollback['package_arn']}: drift engine used model "
            f"{rollback['model_version']}"
        )
    return lines


def _psi(value: float | None) -> str:
    return "     n/a" if value is None else f"{value:8.4f}"


def _prediction_state(psi: float | None, threshold: float) -> str:
    if psi is None:
        return "no data"
    return "ALARM" if psi > threshold else "ok"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _drift_plot(summary: dict[str, Any]) -> str:
    """Feature PSI per window against the feature threshold, and the predictions' PSI against theirs."""
    drift = summary["drift"]
    windows = drift["windows"]
    features = list(next(iter(windows.values()))["feature_drift"])
    figure, (axis, predictions) = plt.subplots(
        1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [len(features), 2]}, sharey=False
    )
    width = 0.8 / len(windows)
    for offset, (name, window) in enumerate(windows.items()):
        positions = [index + offset * width for index in range(len(features))]
        axis.bar(positions, [window["feature_drift"][f] for f in features], width, label=f"{name} window")
    axis.axhline(
        drift["thresholds"]["feature_psi"], color="red", linestyle="--", label="feature alarm threshold"
    )
    axis.set_xticks([index + width * (len(windows) - 1) / 2 for index in range(len(features))])
    axis.set_xticklabels(features, rotation=30, ha="right")
    axis.set_ylabel("PSI")
    axis.set_title("Feature drift per window")
    axis.legend(fontsize="small")

    threshold = drift["thresholds"]["prediction_psi"]
    names = list(windows)
    values = [windows[n]["prediction_drift"] for n in names]
    colours = ["#c0392b" if v is not None and v > threshold else "#27ae60" for v in values]
    bars = predictions.bar(names, [v or 0.0 for v in values], color=colours)
    for bar, value in zip(bars, values, strict=True):
        predictions.annotate(
            f"{_prediction_state(value, threshold)}\n{'n/a' if value is None else f'{value:.3f}'}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize="small",
        )
    predictions.axhline(threshold, color="red", linestyle="--", label="prediction alarm threshold")
    predictions.set_title("Prediction drift")
    predictions.set_ylabel("PSI")
    predictions.margins(y=0.25)
    predictions.legend(fontsize="small")
    figure.tight_layout()
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


def latency_axis_limit(samples: list[float], threshold_ms: float | None) -> float:
    """The latency plot's right edge: past p99 and the rollback threshold, but not out to a lone outlier."""
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        return float(threshold_ms or 1.0)
    # Room past p99 but no further than the slowest request; a lone outlier barely moves p99.
    edge = min(float(np.percentile(values, 99)) * 1.25, float(values.max()) * 1.05)
    return max(edge, threshold_ms * 1.1) if threshold_ms is not None else edge


def _latency_plot(latency: dict[str, Any], threshold_ms: float | None) -> str:
    samples = [float(v) for v in latency["samples"]]
    limit = latency_axis_limit(samples, threshold_ms)
    shown = [v for v in samples if v <= limit]
    beyond = len(samples) - len(shown)
    figure, axis = plt.subplots(figsize=(9, 4))
    # A log axis keeps milliseconds of local serving and a threshold of hundreds readable side by side.
    low = max(min(shown, default=1.0) * 0.9, 0.1)
    axis.hist(shown, bins=[float(edge) for edge in np.geomspace(low, limit, 50)], color="#5d6d7e")
    axis.set_xscale("log")
    axis.axvline(latency["p50"], color="#2e86c1", linestyle="-", label=f"p50 {latency['p50']:.1f} ms")
    axis.axvline(latency["p99"], color="#d68910", linestyle="-", label=f"p99 {latency['p99']:.1f} ms")
    if threshold_ms is not None:
        axis.axvline(
            threshold_ms, color="red", linestyle="--", label=f"rollback threshold (p99) {threshold_ms:g} ms"
        )
    axis.set_xlim(low, limit)
    axis.set_xlabel("latency (ms, log scale)")
    axis.set_ylabel("requests")
    title = "Serving latency per request"
    if beyond:
        title += f" ({beyond} slower request(s) beyond the axis, up to {max(samples):.0f} ms)"
    axis.set_title(title)
    axis.legend()
    return _png(figure)


def latency_axis_clips(samples: list[float], threshold_ms: float | None) -> int:
    """How many requests fall beyond the latency plot's axis (each is named in its title)."""
    limit = latency_axis_limit(samples, threshold_ms)
    return sum(1 for v in samples if v > limit)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2rem auto;
       padding: 0 1rem; color: #1c2833; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #d5d8dc; padding-bottom: .4rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; color: #283747; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d5d8dc; padding: .3rem .7rem; text-align: left; }
th { background: #f4f6f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.alarm { color: #fff; background: #c0392b; font-weight: 600; }
.ok { color: #1e8449; }
.note { background: #fef9e7; border-left: 4px solid #f1c40f; padding: .5rem .8rem; }
img { max-width: 100%; border: 1px solid #eaeded; }
ul { padding-left: 1.2rem; }
"""

NOT_EXERCISED = (
    "SageMaker's own hosting: the model runs in a local server under the SageMaker contract, not on an endpoint.",
    "Blue/green deployment guardrails and automatic rollback on the 5XX and latency alarms.",
    "CloudWatch itself: the rehearsal evaluates the stack's alarm specs over the metrics it published, with "
    "CloudWatch's documented rules (rehearsal/alarms.py), not CloudWatch's own evaluator.",
    "EventBridge, the retraining gate's cooldown and the retraining Pipeline run.",
    "SNS delivery of alarm notifications, and autoscaling of the endpoint.",
    "IAM, KMS key policies and bucket-policy conditions: the emulator does not enforce them.",
)


def _cell(text: str, css: str = "") -> str:
    return f'<td class="{css}">{html.escape(text)}</td>' if css else f"<td>{html.escape(text)}</td>"


def _overview(summary: dict[str, Any]) -> str:
    t, s = summary["training"], summary["serving"]
    rows = [
        ("training job", t["job_name"]),
        ("validation accuracy / F1 / ROC AUC", f"{t['accuracy']:.3f} / {t['f1']:.3f} / {t['roc_auc']:.3f}"),
        ("training time", f"{t['seconds']} s"),
        ("requests served", str(s["requests"])),
        ("latency p50 / p99", f"{s['latency_ms']['p50']:.1f} ms / {s['latency_ms']['p99']:.1f} ms"),
        ("capture sampling", f"{s['capture_sampling_percent']}%"),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th>{_cell(v)}</tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _drift_table(summary: dict[str, Any]) -> str:
    d = summary["drift"]
    windows = d["windows"]
    features = list(next(iter(windows.values()))["feature_drift"])
    head = "<tr><th>subject</th><th>threshold</th>" + "".join(
        f"<th>{html.escape(n)} window ({windows[n]['records_analyzed']} records)</th>" for n in windows
    )
    rows = []
    for feature in features:
        cells = []
        for window in windows.values():
            psi = window["feature_drift"][feature]
            alarm = psi > d["thresholds"]["feature_psi"]
            cells.append(_cell(f"{psi:.4f} {'ALARM' if alarm else 'ok'}", "num alarm" if alarm else "num ok"))
        rows.append(
            f"<tr>{_cell(feature)}{_cell(str(d['thresholds']['feature_psi']), 'num')}{''.join(cells)}</tr>"
        )
    threshold = d["thresholds"]["prediction_psi"]
    cells = []
    for window in windows.values():
        value = window["prediction_drift"]
        state = _prediction_state(value, threshold)
        cells.append(_cell(f"{_psi(value).strip()} {state}", "num alarm" if state == "ALARM" else "num ok"))
    rows.append(f"<tr>{_cell('(predictions)')}{_cell(str(threshold), 'num')}{''.join(cells)}</tr>")
    small = [n for n, w in windows.items() if w["records_analyzed"] < MIN_RECORDS_FOR_PSI]
    note = (
        f'<p class="note">Windows {", ".join(small)} hold fewer than {MIN_RECORDS_FOR_PSI} records: their PSI '
        "is dominated by empty bins and says little. Rehearse with more --requests for a meaningful drift check.</p>"
        if small
        else ""
    )
    return f"<table>{head}</tr>{''.join(rows)}</table>{note}"


def _next_steps(summary: dict[str, Any]) -> str:
    settings = summary.get("settings", {})
    firing = sorted({a for w in summary["drift"]["windows"].values() for a in w["alarm_names"]})
    cooldown = settings.get("retrain_cooldown_minutes")
    schedule = settings.get("drift_schedule_minutes")
    emails = settings.get("alarm_emails")
    threshold = settings.get("latency_p99_threshold_ms")
    items = [
        (
            f"<b>A drift alarm</b> ({len(firing)} would fire here: {html.escape(', '.join(firing) or 'none')}) "
            "notifies the stack's encrypted SNS topic"
            + (f" ({emails} subscribed address(es))" if emails is not None else "")
            + " and asks the retraining gate to start the retraining Pipeline, at most once per "
            + (f"{cooldown} minutes" if cooldown is not None else "cooldown")
            + ". The Pipeline trains on the current data version, gates on validation ROC AUC and registers the "
            "candidate as <code>PendingManualApproval</code>: nothing is deployed until someone approves it and "
            "sets <code>approvedModelPackageArn</code> (or retrains through <code>pulumi up</code>)."
        ),
        (
            "<b>The drift engine</b> runs again "
            + (f"every {schedule} minutes" if schedule is not None else "on its schedule")
            + "; the alarm clears once a window's PSI is back under its threshold."
        ),
        (
            "<b>During a deployment</b>, the 5XX alarm"
            + (
                f" and the latency alarm (p99 above {threshold} ms)"
                if threshold is not None
                else " and latency alarm"
            )
            + " roll the endpoint back to the previous configuration"
            + (
                f" ({html.escape(str(settings['deployment_strategy']))} strategy)"
                if "deployment_strategy" in settings
                else ""
            )
            + "; after it, they notify the topic."
        ),
    ]
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def write_report(summary: dict[str, Any], baseline: pd.Series, live: pd.Series, path: Path) -> Path:
    """A self-contained, styled HTML page (plots embedded as base64 PNGs) at `path`."""
    feature = summary["drift"]["drifted_feature"]
    threshold = summary.get("settings", {}).get("latency_p99_threshold_ms")
    plots = [
        ("Drift per feature and in the predictions", _drift_plot(summary)),
        (f"Baseline vs live: {feature}", _distribution_plot(feature, baseline, live)),
        (
            "Latency, with p50, p99 and the rollback threshold",
            _latency_plot(summary["serving"]["latency_ms"], threshold),
        ),
    ]
    figures = "\n".join(
        f'<h2>{html.escape(title)}</h2>\n<img alt="{html.escape(title)}" src="data:image/png;base64,{png}">'
        for title, png in plots
    )
    stack = html.escape(summary["stack"])
    not_exercised = "".join(f"<li>{html.escape(item)}</li>" for item in NOT_EXERCISED)
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>sagestack rehearsal: {stack}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>sagestack local rehearsal: stack {stack}</h1>\n"
        f"<h2>Overview</h2>\n{_overview(summary)}\n"
        f"<h2>Drift alarms per window</h2>\n{_drift_table(summary)}\n"
        f"{figures}\n"
        f"<h2>What happens next when an alarm fires</h2>\n{_next_steps(summary)}\n"
        f"<h2>What this rehearsal does not exercise</h2>\n<ul>{not_exercised}</ul>\n"
        "<p>Those run on a real account with <code>pulumi up</code>; see the README's Deploy section.</p>\n"
        f"<details><summary>Text summary</summary><pre>{html.escape(text_summary(summary))}</pre></details>\n"
        "</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
