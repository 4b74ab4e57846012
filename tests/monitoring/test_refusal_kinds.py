"""Refused requests by (code, field): a bounded set of metric dimensions that merges exactly across parts.

The error body's `field` names a feature or a request part, but for `unknown_field` and an unknown feature key
it is whatever key the client sent (serving/inference.py): as a CloudWatch dimension that would let any client
mint custom metrics (each billed). Only schema features and the request parts the server names are kept;
the rest is "other". The window publishes its MAX_REFUSAL_KINDS largest kinds and folds the rest into
"other/other", chosen from exact counts, so a window split into parts publishes what the single pass does.
"""

from __future__ import annotations

import io
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitoring import engine
from monitoring.artifact import read_model_baseline
from monitoring.engine import Window, WindowScan
from tests.monitoring.monitoring_synthetic import (
    FEATURES,
    capture_line,
    draw_rows,
    model_tarball,
    training_baseline,
)

MODEL = read_model_baseline(io.BytesIO(model_tarball(training_baseline(count=2000))), "test://model.tar.gz")
BASE = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
WINDOW = Window(BASE, BASE + timedelta(hours=1))
FILE_KEY = "2026-11-28T03:05:00"


def refused_line(code: str, field: str, minute: int = 5) -> bytes:
    record = json.loads(capture_line(draw_rows(random.Random(minute), 1), BASE + timedelta(minutes=minute)))
    record["captureData"]["endpointOutput"]["data"] = json.dumps(
        {"error": {"code": code, "message": "m", "field": field}}
    )
    return json.dumps(record).encode()


def scan(lines: list[bytes]) -> WindowScan:
    window_scan = WindowScan(MODEL, WINDOW)
    window_scan.feed(lines, FILE_KEY)
    return window_scan


def test_client_chosen_field_names_never_become_dimensions() -> None:
    lines = [refused_line("unknown_field", f"key{i}") for i in range(50)]
    lines += [refused_line("unknown_category", "contract"), refused_line("invalid_json", "body")]
    assert scan(lines).result().refused == {
        "unknown_field/other": 50,
        "unknown_category/contract": 1,
        "invalid_json/body": 1,
    }


def test_the_request_parts_kept_are_the_ones_the_server_names() -> None:
    # Every literal field the serving handlers put in an error body is a feature or a kept request part.
    source = (Path(__file__).resolve().parents[2] / "serving" / "inference.py").read_text()
    literal_fields = set(
        re.findall(
            r'RequestError\([^()]*?"[^"]*",\s*(?:f?"[^"]*"|f\'[^\']*\'|\w+)[^"]*?,\s*"([^"]+)"', source
        )
    )
    literal_fields |= set(re.findall(r',\s*"(Content-Type|Accept|body|instances)",?\s*\d*\s*\)', source))
    assert literal_fields >= {"body", "instances", "Content-Type", "Accept"}
    assert literal_fields <= set(engine.REQUEST_PARTS) | set(FEATURES)


def test_more_kinds_than_published_fold_into_other_the_same_way_for_parts_and_single_pass() -> None:
    # 30 kinds with distinct counts (kind i refused i+1 times), spread so each part sees a different subset.
    lines = []
    for i in range(30):
        code = f"code_{i:02d}"
        lines += [
            refused_line(code, FEATURES[i % len(FEATURES)], minute=3 + (i * 7 + j) % 20) for j in range(i + 1)
        ]
    lines.sort()  # any order: the choice comes from exact counts, not from which kind came first
    single = scan(lines).result()
    assert len(single.refused) == engine.MAX_REFUSAL_KINDS + 1
    kept = {
        f"code_{i:02d}/{FEATURES[i % len(FEATURES)]}": i + 1 for i in range(30 - engine.MAX_REFUSAL_KINDS, 30)
    }
    assert single.refused == kept | {"other/other": sum(range(1, 30 - engine.MAX_REFUSAL_KINDS + 1))}
    for parts in (2, 3, 7):
        merged = WindowScan(MODEL, WINDOW)
        size = -(-len(lines) // parts)
        for first in range(0, len(lines), size):
            worker = scan(lines[first : first + size])
            merged.merge_partial(json.loads(json.dumps(worker.partial())))
        assert merged.result() == single


def test_ties_are_broken_by_name_not_by_arrival() -> None:
    lines = [refused_line(f"code_{i:02d}", "body") for i in range(engine.MAX_REFUSAL_KINDS + 5)]
    forward, backward = scan(lines).result(), scan(lines[::-1]).result()
    assert forward.refused == backward.refused
    assert (
        "code_00/body" in forward.refused
        and f"code_{engine.MAX_REFUSAL_KINDS + 4:02d}/body" not in forward.refused
    )
    assert forward.refused["other/other"] == 5
