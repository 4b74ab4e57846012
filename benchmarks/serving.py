"""Serving latency against the floor: the bare final estimator on a prepared numpy row.

    python benchmarks/serving.py [--requests 2000]

Trains the real model (training/sample_data.py + training/train.py, default hyperparameters), then prints,
in one run, for 1 and 100 rows, each as a ratio to the floor measured in the same interleaved rounds:
1. the fitted Pipeline's predict_proba on a prepared DataFrame (what the old request path called);
2. the floor: the final estimator's predict_proba on the prepared numpy array;
3. the compiled path: validated rows -> compiled preprocessing -> final estimator (targets 1.3x / 1.2x);
4. the handler: inference.handle on a JSON body (parse, validate, predict, encode);
and p50/p99 of single-row JSON requests through the image's real serving stack (serving/local_server.py,
one gunicorn gevent worker) over 127.0.0.1 with keep-alive (target: p50 <= 2.5x the 1-row floor).
The machine may be shared: rounds alternate so that outside load hits every variant alike.
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
sys.path[:0] = [str(ROOT), str(ROOT / "serving")]

import inference  # noqa: E402
import local_server  # noqa: E402
from infra.packaging import SERVING_FILES  # noqa: E402

TARGETS = {("compiled path", 1): 1.3, ("compiled path", 100): 1.2}
SERVER_P50_TARGET = 2.5


def train_model(workdir: Path) -> Path:
    data, model_dir = workdir / "data", workdir / "model"
    python = sys.executable
    subprocess.run(
        [python, str(ROOT / "training/sample_data.py"), "--out", str(data), "--rows", "3000"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    arguments = ["--model-dir", str(model_dir), "--train", str(data / "train")]
    arguments += ["--validation", str(data / "validation"), "--output-data-dir", str(workdir / "output")]
    subprocess.run(
        [python, str(ROOT / "training/train.py"), *arguments], check=True, stdout=subprocess.DEVNULL
    )
    return model_dir


def pack(paths: dict[str, Path], archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for name, path in paths.items():
            tar.add(path, arcname=name)
    return archive


def interleaved(
    variants: dict[str, Callable[[], object]], rounds: int = 15
) -> dict[str, tuple[float, float]]:
    """Per variant: (median seconds per call, median per-round ratio to the first variant, the floor)."""
    names = list(variants)
    for function in variants.values():
        function()
    floor = variants[names[0]]
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < 0.05:
        floor()
        calls += 1
    round_calls = max(3, int(calls * 0.1 / 0.05))
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            function = variants[name]
            began = time.perf_counter()
            for _ in range(round_calls):
                function()
            times[name].append((time.perf_counter() - began) / round_calls)
    return {
        name: (
            statistics.median(times[name]),
            statistics.median(t / f for t, f in zip(times[name], times[names[0]], strict=True)),
        )
        for name in names
    }


def in_process(
    model: inference.LoadedModel, rows: list[list[object]]
) -> dict[int, dict[str, tuple[float, float]]]:
    assert model.compiled is not None, "the benchmark model did not compile"
    results = {}
    for count in (1, 100):
        batch = inference.parse_rows(model, json.dumps({"instances": rows[:count]}), inference.JSON)
        body = json.dumps({"instances": rows[:count]})
        frame = inference._frame(model, batch)
        prepared = model.compiled.transform(batch)
        assert inference.handle(model, body, inference.JSON, inference.JSON)[0] == 200
        results[count] = interleaved(
            {
                "floor: estimator on numpy": functools.partial(model.estimator.predict_proba, prepared),
                "Pipeline predict_proba": functools.partial(model.pipeline.predict_proba, frame),
                "compiled path": functools.partial(model.predict_proba, batch),
                "handler (JSON)": functools.partial(
                    inference.handle, model, body, inference.JSON, inference.JSON
                ),
            }
        )
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
        assert response.status == 200, response.status
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
        model = inference.load_model(str(model_dir))
        import pandas as pd

        validation = pd.concat(pd.read_csv(p) for p in sorted((workdir / "data/validation").glob("*.csv")))
        rows = validation[list(model.feature_names)].head(100).astype(object).values.tolist()

        print(f"model: {model.model_version} ({type(model.estimator).__name__})")
        results = in_process(model, rows)
        floor_one = results[1]["floor: estimator on numpy"][0]
        print(f"{'in process':<28}{'rows':>5}{'per call':>12}{'x floor':>9}{'target':>8}")
        for count, variants in results.items():
            for name, (seconds, ratio) in variants.items():
                target = TARGETS.get((name, count))
                mark = f"<= {target}" if target else ""
                print(f"{name:<28}{count:>5}{seconds * 1e3:>9.3f} ms{ratio:>8.2f}x{mark:>8}")

        model_archive = pack({p.name: p for p in model_dir.iterdir()}, workdir / "model.tar.gz")
        code_archive = pack({n: ROOT / "serving" / n for n in SERVING_FILES}, workdir / "sourcedir.tar.gz")
        with local_server.serve(model_archive, code_archive) as server:
            latencies = server_latency(server.url, json.dumps({"instances": rows[:1]}), arguments.requests)
        floor_after = interleaved(
            {
                "floor": functools.partial(
                    model.estimator.predict_proba,
                    model.compiled.transform(
                        inference.parse_rows(model, json.dumps({"instances": rows[:1]}), inference.JSON)
                    ),
                )
            }
        )["floor"][0]
        floor = statistics.median([floor_one, floor_after])
        quantiles = statistics.quantiles(latencies, n=100)
        p50, p99 = quantiles[49], quantiles[98]
        print(
            f"serving stack (sagemaker-containers + gunicorn/gevent, 1 worker), {len(latencies)} single-row "
            f"JSON requests over 127.0.0.1 (keep-alive):\n"
            f"  p50 {p50 * 1e3:.2f} ms = {p50 / floor:.2f}x floor (target <= {SERVER_P50_TARGET}), "
            f"p99 {p99 * 1e3:.2f} ms = {p99 / floor:.2f}x floor; floor (1 row, before/after) "
            f"{floor_one * 1e3:.3f}/{floor_after * 1e3:.3f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
