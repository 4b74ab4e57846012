"""Serving overhead: inference.handle against raw predict_proba, and local-server latency over loopback.

    python benchmarks/serving.py [--requests 2000]

Trains the real model (training/sample_data.py + training/train.py, default hyperparameters), then prints
1. handler time / predict_proba time on the already-parsed DataFrame, for 1 and 100 rows (target <= 1.3x);
2. p50/p99 of single-row requests through serving/local_server.py over 127.0.0.1 (targets 5 ms / 15 ms).
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "serving"))

import inference  # noqa: E402
import local_server  # noqa: E402


def train_model(workdir: Path) -> Path:
    data, model_dir = workdir / "data", workdir / "model"
    python = sys.executable
    subprocess.run(
        [python, str(ROOT / "training/sample_data.py"), "--out", str(data), "--rows", "3000"], check=True
    )
    paths = [
        "--model-dir",
        str(model_dir),
        "--train",
        str(data / "train"),
        "--validation",
        str(data / "validation"),
    ]
    output = ["--output-data-dir", str(workdir / "output")]
    subprocess.run(
        [python, str(ROOT / "training/train.py"), *paths, *output], check=True, stdout=subprocess.DEVNULL
    )
    return model_dir


def pack(paths: dict[str, Path], archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for name, path in paths.items():
            tar.add(path, arcname=name)
    return archive


def interleaved(
    baseline: Callable[[], object], candidate: Callable[[], object], rounds: int = 15
) -> tuple[float, float, float]:
    """Median seconds per call of each, and the median per-round ratio; rounds alternate so that load
    from other processes on the machine hits both sides alike."""
    baseline(), candidate()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < 0.05:
        baseline()
        calls += 1
    round_calls = max(1, int(calls * 0.1 / 0.05))
    base_times: list[float] = []
    candidate_times: list[float] = []
    for _ in range(rounds):
        for function, times in ((baseline, base_times), (candidate, candidate_times)):
            start = time.perf_counter()
            for _ in range(round_calls):
                function()
            times.append((time.perf_counter() - start) / round_calls)
    ratios = [c / b for b, c in zip(base_times, candidate_times, strict=True)]
    return statistics.median(base_times), statistics.median(candidate_times), statistics.median(ratios)


def handler_overhead(
    model: inference.LoadedModel, rows: list[list[object]]
) -> list[tuple[str, int, float, float, float]]:
    names = list(model.feature_names)
    results = []
    for count in (1, 100):
        batch = rows[:count]
        bodies = {
            "JSON lists": (json.dumps({"instances": batch}), "application/json"),
            "JSON objects": (
                json.dumps({"instances": [dict(zip(names, r, strict=True)) for r in batch]}),
                inference.JSON,
            ),
            "CSV": ("\n".join(",".join(map(str, r)) for r in batch), "text/csv"),
        }
        frame = inference.parse(model, *bodies["JSON lists"])
        for label, (body, content_type) in bodies.items():
            assert inference.handle(model, body, content_type, "application/json")[0] == 200
            raw, handled, ratio = interleaved(
                functools.partial(model.pipeline.predict_proba, frame),
                functools.partial(inference.handle, model, body, content_type, "application/json"),
            )
            results.append((label, count, raw, handled, ratio))
    return results


def server_latency(url: str, body: str, requests: int) -> list[float]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    latencies = []
    for index in range(requests + 50):
        start = time.perf_counter()
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 200
        if index >= 50:
            latencies.append(elapsed)
    connection.close()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="single-row requests through the server")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sagestack-bench-") as temp:
        workdir = Path(temp)
        model_dir = train_model(workdir)
        model = inference.model_fn(str(model_dir))
        import pandas as pd

        validation = pd.concat(pd.read_csv(p) for p in sorted((workdir / "data/validation").glob("*.csv")))
        rows = validation[list(model.feature_names)].head(100).astype(object).values.tolist()

        print(f"model: {model.model_version} ({type(model.pipeline.steps[-1][1]).__name__})")
        print(f"{'payload':<14}{'rows':>5}{'predict_proba':>16}{'handle':>12}{'ratio':>8}")
        for label, count, raw, handled, ratio in handler_overhead(model, rows):
            print(f"{label:<14}{count:>5}{raw * 1e3:>13.3f} ms{handled * 1e3:>9.3f} ms{ratio:>7.2f}x")
        single = inference.parse(model, json.dumps({"instances": rows[:1]}), "application/json")
        predict_times = []
        for _ in range(300):
            start = time.perf_counter()
            model.pipeline.predict_proba(single)
            predict_times.append(time.perf_counter() - start)

        model_archive = pack({p.name: p for p in model_dir.iterdir()}, workdir / "model.tar.gz")
        code_archive = pack(
            {n: ROOT / "serving" / n for n in ("inference.py", "requirements.txt")},
            workdir / "sourcedir.tar.gz",
        )
        with local_server.serve(model_archive, code_archive) as server:
            latencies = server_latency(server.url, json.dumps({"instances": rows[:1]}), arguments.requests)
        quantiles = statistics.quantiles(latencies, n=100)
        print(f"raw predict_proba, 1 row, in process: p50 {statistics.median(predict_times) * 1e3:.2f} ms")
        print(
            f"local server, {len(latencies)} single-row JSON requests over loopback (keep-alive): "
            f"p50 {quantiles[49] * 1e3:.2f} ms (target <= 5), p99 {quantiles[98] * 1e3:.2f} ms (target <= 15)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
