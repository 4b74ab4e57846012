"""Drift engine throughput and memory against a naive load-everything pandas implementation.

    /work/venv/bin/python benchmarks/drift.py [--sizes 100000 1000000]

Generates data-capture JSON Lines once (100k distinct records: half CSV, a quarter JSON, a quarter BASE64
JSON; larger sizes read that file repeatedly), then measures each implementation in its own subprocess so
the peak memory numbers are clean: records per CPU-second (one core) and the growth of peak RSS during
the run. pandas runs beside the engine on the second core, which is why rates are per CPU-second.
A third row, "json floor", only parses each line and its response with the stdlib C scanner: no pure-Python
engine can beat it, so it shows how much of the engine's time is Python work.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "monitoring")]

from monitoring_synthetic import capture_lines, draw_rows, model_tarball, training_baseline  # noqa: E402

from monitoring.artifact import ModelBaseline, read_model_baseline  # noqa: E402
from monitoring.engine import Window, WindowScan, iter_lines  # noqa: E402

DISTINCT_RECORDS = 100_000
WINDOW = Window(datetime(2026, 11, 28, 3, 0, tzinfo=UTC), datetime(2026, 11, 28, 4, 0, tzinfo=UTC))
FORMATS = (("csv", "CSV"), ("json", "JSON"), ("csv", "CSV"), ("json", "BASE64"))


def generate(directory: Path) -> Path:
    """Write DISTINCT_RECORDS capture lines and the model artifact; larger runs read the file repeatedly."""
    rows = draw_rows(random.Random(2026), DISTINCT_RECORDS)
    times = [
        WINDOW.start + timedelta(seconds=(i * 3600) // DISTINCT_RECORDS) for i in range(DISTINCT_RECORDS)
    ]
    path = directory / "capture.jsonl"
    path.write_bytes(("\n".join(capture_lines(rows, times, formats=FORMATS)) + "\n").encode())
    (directory / "model.tar.gz").write_bytes(model_tarball(training_baseline()))
    return path


def load_model(directory: Path) -> ModelBaseline:
    with (directory / "model.tar.gz").open("rb") as archive:
        return read_model_baseline(archive, "benchmark")


def capture_stream(path: Path, repeats: int) -> Iterator[bytes]:
    """The capture file read `repeats` times over, line by line, as the engine reads an S3 body."""
    for _ in range(repeats):
        with path.open("rb") as stream:
            yield from iter_lines(stream)


def run_engine(path: Path, repeats: int, model: ModelBaseline) -> dict[str, Any]:
    scan = WindowScan(model, WINDOW)
    scan.feed(capture_stream(path, repeats))
    result = scan.result()
    return {"records": result.records, "psi": result.feature_drift, "prediction_psi": result.prediction_drift}


def run_json_floor(path: Path, repeats: int, model: ModelBaseline) -> dict[str, Any]:
    scan_json = json.JSONDecoder().scan_once
    records = 0
    for line in capture_stream(path, repeats):
        record = scan_json(line.decode(), 0)[0]
        scan_json(record["captureData"]["endpointOutput"]["data"], 0)
        records += 1
    return {"records": records, "psi": {}, "prediction_psi": None}


def run_pandas(path: Path, repeats: int, model: ModelBaseline) -> dict[str, Any]:
    """What one writes first: read every record, decode into a DataFrame, bin with numpy."""
    import base64

    import numpy as np
    import pandas as pd

    columns = list(model.columns)
    text = path.read_text()
    records = [json.loads(line) for _ in range(repeats) for line in text.splitlines() if line]
    del text
    feature_rows: list[list[Any]] = []
    probabilities: list[float] = []
    times: list[str] = []
    for record in records:
        captured_input = record["captureData"]["endpointInput"]
        captured_output = record["captureData"]["endpointOutput"]
        text = captured_input["data"]
        if captured_input["encoding"] == "BASE64":
            text = base64.b64decode(text).decode()
        if captured_input["observedContentType"] == "text/csv":
            rows = [line.split(",") for line in text.splitlines()]
        else:
            rows = [
                [item[name] for name in columns] if isinstance(item, dict) else item
                for item in json.loads(text)["instances"]
            ]
        output = json.loads(captured_output["data"])
        positive = output["classes"].index(1)
        feature_rows.extend(rows)
        probabilities.extend(row[positive] for row in output["probabilities"])
        times.extend([record["eventMetadata"]["inferenceTime"]] * len(rows))
    frame = pd.DataFrame(feature_rows, columns=columns)
    frame["probability"] = probabilities
    frame["time"] = pd.to_datetime(times, utc=True)
    frame = frame[(frame["time"] >= WINDOW.start) & (frame["time"] < WINDOW.end)]

    def psi(counts: np.ndarray, base: list[float]) -> float:
        live = np.maximum(counts / counts.sum(), 1e-4)
        base_shares = np.maximum(np.asarray(base, dtype=float), 1e-4)
        return float(np.sum((live - base_shares) * np.log(live / base_shares)))

    result = {}
    for feature in model.baseline.features:
        if hasattr(feature, "edges"):
            values = pd.to_numeric(frame[feature.name]).to_numpy(dtype=float)
            bins = np.searchsorted(np.asarray(feature.edges), values, side="right")
            result[feature.name] = psi(
                np.bincount(bins, minlength=len(feature.frequencies)), list(feature.frequencies)
            )
        else:
            index = {str(category): i for i, category in enumerate(feature.categories)}
            bins = frame[feature.name].astype(str).map(index).fillna(len(index)).astype(int).to_numpy()
            counts = np.bincount(bins, minlength=len(index) + 1)
            result[feature.name] = psi(counts, [*feature.frequencies, 0.0])
    prediction_bins = np.searchsorted(
        np.asarray(model.baseline.prediction.edges), frame["probability"].to_numpy(dtype=float), side="right"
    )
    prediction = psi(
        np.bincount(prediction_bins, minlength=len(model.baseline.prediction.frequencies)),
        list(model.baseline.prediction.frequencies),
    )
    return {"records": len(records), "psi": result, "prediction_psi": prediction}


IMPLEMENTATIONS = {"engine": run_engine, "pandas": run_pandas, "json floor": run_json_floor}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss_kb() -> int:
    """Reset the peak-RSS mark (Linux clear_refs 5) so setup does not hide the run; returns the RSS now."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS")
    except (OSError, LookupError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_kb() -> int:
    try:
        return _status_kb("VmHWM")
    except (OSError, LookupError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def worker(implementation: str, path: Path, repeats: int) -> None:
    if implementation == "pandas":
        import numpy  # noqa: F401
        import pandas  # noqa: F401
    model = load_model(path.parent)
    rss_before_kb = reset_peak_rss_kb()
    wall = time.perf_counter()
    cpu = time.process_time()
    outcome = IMPLEMENTATIONS[implementation](path, repeats, model)
    outcome["cpu_seconds"] = time.process_time() - cpu
    outcome["wall_seconds"] = time.perf_counter() - wall
    outcome["peak_rss_growth_mb"] = (peak_rss_kb() - rss_before_kb) / 1024
    print(json.dumps(outcome))


def start_worker(implementation: str, path: Path, repeats: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        implementation,
        "--path",
        str(path),
        "--repeats",
        str(repeats),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def collect(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"benchmark worker {process.args} failed with exit code {process.returncode}")
    return json.loads(stdout.strip().splitlines()[-1])


def measure(path: Path, repeats: int) -> dict[str, dict[str, Any]]:
    """pandas in one process while the engine and then the floor run in another (rates are per CPU-second)."""
    pandas_worker = start_worker("pandas", path, repeats)
    results = {"engine": collect(start_worker("engine", path, repeats))}
    results["json floor"] = collect(start_worker("json floor", path, repeats))
    results["pandas"] = collect(pandas_worker)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--worker", choices=sorted(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.path, args.repeats)
        return
    for size in args.sizes:
        if size <= 0 or size % DISTINCT_RECORDS:
            parser.error(f"--sizes: expected positive multiples of {DISTINCT_RECORDS}, got {size}")

    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        started = time.perf_counter()
        path = generate(Path(tmp))
        print(
            f"generated {DISTINCT_RECORDS:,} capture records ({path.stat().st_size / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - started:.1f}s; larger sizes re-read the file"
        )
        header = (
            f"{'records':>10} {'implementation':<14} {'rec/CPU-s':>10} {'wall s':>7} {'peak MB':>8} "
            f"{'speed vs pandas':>16} {'memory vs pandas':>17}"
        )
        print(header)
        print("-" * len(header))
        engine_memory = {}
        for size in args.sizes:
            results = measure(path, size // DISTINCT_RECORDS)
            engine, pandas_result = results["engine"], results["pandas"]
            if engine["records"] != size or pandas_result["records"] != size:
                raise SystemExit(
                    f"record counts disagree: engine {engine['records']}, pandas {pandas_result['records']}"
                )
            for name, value in engine["psi"].items():
                if not math.isclose(value, pandas_result["psi"][name], rel_tol=1e-9, abs_tol=1e-12):
                    raise SystemExit(
                        f"PSI of {name} disagrees: engine {value}, pandas {pandas_result['psi'][name]}"
                    )
            pandas_rate = size / pandas_result["cpu_seconds"]
            pandas_memory = max(pandas_result["peak_rss_growth_mb"], 0.1)
            for name in ("engine", "pandas", "json floor"):
                result = results[name]
                rate = size / result["cpu_seconds"]
                memory = result["peak_rss_growth_mb"]
                print(
                    f"{size:>10,} {name:<14} {rate:>10,.0f} {result['wall_seconds']:>7.2f} {memory:>8.1f} "
                    f"{rate / pandas_rate:>15.2f}x {memory / pandas_memory:>16.3f}x"
                )
            engine_memory[size] = engine["peak_rss_growth_mb"]
        if len(engine_memory) > 1:
            first, last = min(engine_memory), max(engine_memory)
            print(
                f"engine peak-RSS growth: {engine_memory[first]:.1f} MB at {first:,} records, "
                f"{engine_memory[last]:.1f} MB at {last:,} records"
            )
        print("engine and pandas PSI agree to 1e-9 for every feature at every size")
        print(f"total benchmark time {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
