"""A synthetic churn model for drift tests: schema, baseline.json, model.tar.gz and capture lines.

Independent of training/: the baseline is built here the way docs/formats.md describes it.
"""

from __future__ import annotations

import base64
import io
import json
import math
import random
import tarfile
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CONTRACTS = ("month-to-month", "one-year", "two-year")
INTERNET = ("dsl", "fiber", "none")
PREDICTION_EDGES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]

SCHEMA: dict[str, Any] = {
    "format_version": 1,
    "label": "churned",
    "classes": [0, 1],
    "features": [
        {"name": "tenure_months", "type": "numeric", "min": 0, "max": 120},
        {"name": "monthly_charges", "type": "numeric", "min": 0, "max": 500},
        {"name": "contract", "type": "categorical", "categories": list(CONTRACTS)},
        {"name": "support_calls", "type": "numeric", "min": 0, "max": 50},
        {"name": "internet_service", "type": "categorical", "categories": list(INTERNET)},
    ],
}
FEATURES = [feature["name"] for feature in SCHEMA["features"]]
NUMERIC = [feature["name"] for feature in SCHEMA["features"] if feature["type"] == "numeric"]
CATEGORICAL = [feature["name"] for feature in SCHEMA["features"] if feature["type"] == "categorical"]


@dataclass(frozen=True)
class Traffic:
    """How live rows are drawn; the defaults reproduce the training distribution."""

    monthly_charges_shift: float = 0.0
    contract_weights: tuple[float, float, float] = (0.55, 0.25, 0.20)


def draw_rows(rng: random.Random, count: int, traffic: Traffic = Traffic()) -> list[list[Any]]:
    rows = []
    for _ in range(count):
        rows.append(
            [
                rng.randint(0, 72),
                round(rng.gauss(70.0, 20.0) + traffic.monthly_charges_shift, 2),
                rng.choices(CONTRACTS, weights=traffic.contract_weights)[0],
                min(int(rng.expovariate(0.5)), 20),
                rng.choices(INTERNET, weights=(0.35, 0.45, 0.20))[0],
            ]
        )
    return rows


def churn_probability(row: Sequence[Any]) -> float:
    tenure, charges, contract, calls, _internet = row
    score = -1.0 - 0.04 * float(tenure) + 0.02 * (float(charges) - 70.0) + 0.3 * float(calls)
    score += {"month-to-month": 1.0, "one-year": -0.5, "two-year": -1.5}.get(contract, 0.0)
    return 1.0 / (1.0 + math.exp(-score))


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total for count in counts]


def build_baseline(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """baseline.json for `rows`: decile edges (de-duplicated) for numerics, shares for categoricals."""
    features = []
    for column, spec in enumerate(SCHEMA["features"]):
        values = [row[column] for row in rows]
        if spec["type"] == "numeric":
            ordered = sorted(float(v) for v in values)
            cuts = sorted({ordered[len(ordered) * q // 10] for q in range(1, 10)})
            counts = [0] * (len(cuts) + 1)
            for value in ordered:
                counts[bisect_right(cuts, value)] += 1
            features.append(
                {"name": spec["name"], "type": "numeric", "edges": cuts, "frequencies": _shares(counts)}
            )
        else:
            categories = spec["categories"]
            counts = [values.count(category) for category in categories]
            features.append(
                {
                    "name": spec["name"],
                    "type": "categorical",
                    "categories": categories,
                    "frequencies": _shares(counts),
                }
            )
    prediction_counts = [0] * (len(PREDICTION_EDGES) + 1)
    for row in rows:
        prediction_counts[bisect_right(PREDICTION_EDGES, churn_probability(row))] += 1
    return {
        "format_version": 1,
        "record_count": len(rows),
        "features": features,
        "prediction": {"edges": PREDICTION_EDGES, "frequencies": _shares(prediction_counts)},
    }


def hand_sized_baseline() -> dict[str, Any]:
    """A baseline small enough to bin by hand: x cuts at 1 and 2, c is "a" or "b", the prediction cuts at 0.5."""
    return {
        "format_version": 1,
        "record_count": 8,
        "features": [
            {"name": "x", "type": "numeric", "edges": [1.0, 2.0], "frequencies": [0.25, 0.5, 0.25]},
            {"name": "c", "type": "categorical", "categories": ["a", "b"], "frequencies": [0.5, 0.5]},
        ],
        "prediction": {"edges": [0.5], "frequencies": [0.5, 0.5]},
    }


def training_baseline(seed: int = 7, count: int = 20_000) -> dict[str, Any]:
    return build_baseline(draw_rows(random.Random(seed), count))


def model_tarball(
    baseline: dict[str, Any], schema: dict[str, Any] | None = None, *, with_schema: bool = True
) -> bytes:
    """A model.tar.gz packed like SageMaker packs /opt/ml/model (members under "./")."""
    members: dict[str, bytes] = {
        "./model.joblib": b"\x80\x04not-a-real-model" * 64,
        "./baseline.json": json.dumps(baseline).encode(),
        "./metrics.json": b'{"auc": 0.8}',
    }
    if with_schema:
        members["./schema.json"] = json.dumps(schema or SCHEMA).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def capture_line(
    rows: Sequence[Sequence[Any]],
    inference_time: datetime | str,
    *,
    content: str = "csv",
    encoding: str = "CSV",
    instances: str = "lists",
    output_encoding: str = "JSON",
    event_id: str = "00000000-0000-4000-8000-000000000000",
) -> str:
    """One data-capture JSON line for a request of `rows`, with the response the model would give."""
    if content == "csv":
        input_type = "text/csv"
        input_text = "\n".join(",".join(str(v) for v in row) for row in rows)
    else:
        input_type = "application/json"
        if instances == "objects":
            payload: list[Any] = [dict(zip(FEATURES, row, strict=True)) for row in rows]
        else:
            payload = [list(row) for row in rows]
        input_text = json.dumps({"instances": payload})
    probabilities = [churn_probability(row) for row in rows]
    output_text = json.dumps(
        {
            "model_version": "sagestack-test-train-0001",
            "classes": [0, 1],
            "predictions": [int(p >= 0.5) for p in probabilities],
            "probabilities": [[1.0 - p, p] for p in probabilities],
        }
    )

    def captured(mode: str, content_type: str, text: str, wire_encoding: str) -> dict[str, str]:
        data = base64.b64encode(text.encode()).decode() if wire_encoding == "BASE64" else text
        return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": wire_encoding}

    moment = (
        inference_time if isinstance(inference_time, str) else inference_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    record = {
        "captureData": {
            "endpointInput": captured("INPUT", input_type, input_text, encoding),
            "endpointOutput": captured("OUTPUT", "application/json", output_text, output_encoding),
        },
        "eventMetadata": {"eventId": event_id, "inferenceTime": moment},
        "eventVersion": "0",
    }
    return json.dumps(record)


def capture_lines(
    rows: Sequence[Sequence[Any]],
    times: Iterable[datetime],
    *,
    formats: Sequence[tuple[str, str]] = (
        ("csv", "CSV"),
        ("json", "JSON"),
        ("json", "BASE64"),
        ("csv", "BASE64"),
    ),
    rows_per_record: int = 1,
) -> list[str]:
    """Capture lines for `rows`, cycling through (content, encoding) pairs and JSON instance styles."""
    lines = []
    time_iter = iter(times)
    for number, first in enumerate(range(0, len(rows), rows_per_record)):
        chunk = rows[first : first + rows_per_record]
        content, encoding = formats[number % len(formats)]
        instances = "objects" if number % 3 else "lists"
        lines.append(
            capture_line(chunk, next(time_iter), content=content, encoding=encoding, instances=instances)
        )
    return lines
