"""Projected wall time of a 36M-record drift window on the stack's configuration, with and without the
Step Functions Distributed Map (monitoring/scaleout.py, infra/drift_scaleout.py).

    .venv/bin/python benchmarks/drift_scaleout.py [--records 60000] [--object-mb 64]

Measures, in this run, the engine's records and bytes per CPU-second on a mixed capture stream (CSV, JSON
lists and objects, BASE64, multi-row requests) and the reduce step's merge time per part, then plans the
window with the stack's own budgets (infra.drift_scaleout) and projects:
  - one invocation: the engine's 512 MB Lambda (0.29 vCPU) against its 900 s timeout,
  - the Distributed Map: parts of at most PART_BYTES on 1,769 MB workers (one vCPU), MaxConcurrency at a
    time, then one merge and publish.
It also prints the budgets these rates suggest, to compare with the configured ones. A projection, not a
measurement of AWS: Lambda start-up and S3 throughput are fixed assumptions printed with the result.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: the repository root, for monitoring/ and tests/

from infra import drift_scaleout, scaleout_definition  # noqa: E402
from monitoring.artifact import read_model_baseline  # noqa: E402
from monitoring.engine import Window, WindowScan  # noqa: E402
from monitoring.scaleout import CaptureObject, plan_window  # noqa: E402
from tests.monitoring.monitoring_synthetic import capture_lines, draw_rows, model_tarball, training_baseline  # noqa: E402

WINDOW_RECORDS = 36_000_000  # 10,000 requests/s with full capture for one hour (issue 14)
# Lambda allocates CPU in proportion to memory; 1,769 MB is one vCPU
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
ENGINE_VCPU = 512 / 1769
ENGINE_TIMEOUT_S = 900
WORKER_VCPU = min(1.0, drift_scaleout.WORKER_MEMORY_MB / 1769)
# Assumed fixed costs per wave of workers and per run (cold start, Step Functions scheduling, S3 first byte).
WAVE_OVERHEAD_S = 5.0
RUN_OVERHEAD_S = 10.0
# Assumed S3 GET throughput of one sequential reader; the engine reads and parses in turn, so it adds up.
S3_BYTES_PER_S = 80e6
START = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(hours=1))


def mixed_lines(records: int, seed: int = 14) -> list[bytes]:
    """Capture lines of every request shape, two in five requests multi-row, times spread over the hour."""
    rng = random.Random(seed)
    rows = draw_rows(rng, records)
    # Within the ten minutes after the capture file's name time, so every line belongs to the window.
    times = [START + timedelta(seconds=600 * i / records) for i in range(records)]
    single = capture_lines(rows[: records // 2], times[: records // 2])
    multi = capture_lines(rows[records // 2 :], times[records // 2 :], rows_per_record=4)
    return [line.encode() for line in single + multi]


def engine_rates(lines: list[bytes], model: Any) -> tuple[float, float, int]:
    """(records per CPU-second, bytes per CPU-second, records) of the engine over the lines, best of 3."""
    size = sum(len(line) + 1 for line in lines)
    best = math.inf
    records = 0
    for _ in range(3):
        scan = WindowScan(model, WINDOW)
        began = time.process_time()
        scan.feed(lines, "2026-11-28T03:00:00")
        best = min(best, time.process_time() - began)
        records = scan.counts.records
    return records / best, size / best, records


def merge_seconds_per_part(lines: list[bytes], model: Any, parts: int = 200) -> float:
    """CPU seconds the reduce step spends per part: JSON-decode one partial and merge it."""
    worker = WindowScan(model, WINDOW)
    worker.feed(lines[:2000], "2026-11-28T03:00:00")
    document = json.dumps(worker.partial())
    merged = WindowScan(model, WINDOW)
    began = time.process_time()
    for _ in range(parts):
        merged.merge_partial(json.loads(document))
    return (time.process_time() - began) / parts


def projection(
    *, records_per_cpu_s: float, bytes_per_record: float, merge_s: float, object_bytes: int
) -> dict[str, Any]:
    """Wall time of the 36M-record window as one engine invocation and as the stack's Distributed Map."""
    window_bytes = WINDOW_RECORDS * bytes_per_record
    single_s = WINDOW_RECORDS / (records_per_cpu_s * ENGINE_VCPU) + window_bytes / S3_BYTES_PER_S
    count = max(1, math.ceil(window_bytes / object_bytes))
    objects = [
        CaptureObject(f"capture/{i:06d}.jsonl", "2026-11-28T03:00:00", object_bytes) for i in range(count)
    ]
    plan = plan_window(
        WINDOW,
        objects,
        single_max_bytes=drift_scaleout.SINGLE_MAX_BYTES,
        part_bytes=drift_scaleout.PART_BYTES,
        part_objects=drift_scaleout.PART_OBJECTS,
    )
    bytes_per_cpu_s = records_per_cpu_s * bytes_per_record
    largest = max(sum(o.size for o in part) for part in plan.parts)
    part_s = largest / (bytes_per_cpu_s * WORKER_VCPU) + largest / S3_BYTES_PER_S
    waves = math.ceil(len(plan.parts) / scaleout_definition.MAX_CONCURRENCY)
    distributed_s = RUN_OVERHEAD_S + waves * (part_s + WAVE_OVERHEAD_S) + len(plan.parts) * merge_s
    return {
        "window_gb": window_bytes / 1e9,
        "objects": count,
        "single_s": single_s,
        "single_fits": single_s <= ENGINE_TIMEOUT_S,
        "parts": len(plan.parts),
        "waves": waves,
        "part_s": part_s,
        "merge_s": len(plan.parts) * merge_s,
        "distributed_s": distributed_s,
        "part_fits": part_s <= scaleout_definition.WORKER_TIMEOUT_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=60_000, help="records in the measured sample")
    parser.add_argument("--object-mb", type=float, default=64.0, help="size of one capture object")
    args = parser.parse_args()

    model = read_model_baseline(io.BytesIO(model_tarball(training_baseline())), "s3://bench/model.tar.gz")
    lines = mixed_lines(args.records)
    records_per_cpu_s, bytes_per_cpu_s, records = engine_rates(lines, model)
    bytes_per_record = bytes_per_cpu_s / records_per_cpu_s
    merge_s = merge_seconds_per_part(lines, model)
    result = projection(
        records_per_cpu_s=records_per_cpu_s,
        bytes_per_record=bytes_per_record,
        merge_s=merge_s,
        object_bytes=int(args.object_mb * 1024 * 1024),
    )
    print(
        f"engine on the mixed sample: {records:,} records, {records_per_cpu_s:,.0f} records/CPU-s, "
        f"{bytes_per_cpu_s / 1e6:,.1f} MB/CPU-s ({bytes_per_record:,.0f} bytes/record)"
    )
    print(f"reduce step: {merge_s * 1000:.2f} ms CPU to decode and merge one part's partial")
    print(
        f"36M-record window: {result['window_gb']:.1f} GB in {result['objects']:,} objects of {args.object_mb:g} MB"
    )
    verdict = "fits" if result["single_fits"] else f"exceeds the {ENGINE_TIMEOUT_S} s timeout"
    print(f"  one 512 MB invocation ({ENGINE_VCPU:.2f} vCPU): {result['single_s']:,.0f} s ({verdict})")
    print(
        f"  Distributed Map: {result['parts']} parts of <= {drift_scaleout.PART_BYTES / 2**20:,.0f} MiB on "
        f"{drift_scaleout.WORKER_MEMORY_MB} MB workers, {scaleout_definition.MAX_CONCURRENCY} at a time = "
        f"{result['waves']} wave(s) of {result['part_s']:,.0f} s + merge {result['merge_s']:.1f} s "
        f"+ assumed overheads ({RUN_OVERHEAD_S:g} s per run, {WAVE_OVERHEAD_S:g} s per wave, S3 reads at "
        f"{S3_BYTES_PER_S / 1e6:g} MB/s) = "
        f"{result['distributed_s']:,.0f} s; ratio {result['single_s'] / result['distributed_s']:.1f}x faster"
    )
    if not result["part_fits"]:
        print(
            f"  WARNING: a part needs more than the worker timeout ({scaleout_definition.WORKER_TIMEOUT_SECONDS} s)"
        )
    suggested_part = 240 / (1 / (bytes_per_cpu_s * WORKER_VCPU) + 1 / S3_BYTES_PER_S)
    suggested_single = ENGINE_TIMEOUT_S / 2 / (1 / (bytes_per_cpu_s * ENGINE_VCPU) + 1 / S3_BYTES_PER_S)
    print(
        f"budgets these rates suggest: PART_BYTES ~{suggested_part / 2**20:,.0f} MiB (240 s of one vCPU; "
        f"configured {drift_scaleout.PART_BYTES / 2**20:,.0f}), SINGLE_MAX_BYTES ~{suggested_single / 2**20:,.0f} "
        f"MiB (half the engine's timeout; configured {drift_scaleout.SINGLE_MAX_BYTES / 2**20:,.0f})"
    )


if __name__ == "__main__":
    main()
