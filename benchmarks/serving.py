"""Serving latency against the floor: the bare final estimator on a prepared numpy row.

    python benchmarks/serving.py [--requests 2000]

Trains the real model (training/sample_data.py + training/train.py, default hyperparameters), then prints,
in one run, for 1 and 100 rows, each as a ratio to the floor measured in the same interleaved rounds:
1. the fitted Pipeline's predict_proba on a prepared DataFrame (what the old request path called);
2. the floor: the final estimator's predict_proba on the prepared numpy array;
3. the estimator kernel on the compiled features (serving/compiled_estimator.py: the fitted trees as
   array operations, used for requests up to the kernel's max_rows, above which the estimator's own
   predict_proba is cheaper);
4. the compiled path: validated rows -> compiled preprocessing -> kernel or final estimator (targets
   1.3x / 1.2x);
5. the handler: inference.handle on a JSON body (parse, validate, predict, encode);
then p50/p99 of single-row JSON requests through the image's real serving stack (serving/local_server.py,
one gunicorn gevent worker) over 127.0.0.1 (target: p50 <= 2.5x the 1-row floor), beside the container's
own floor: the same stack, client and body size with a transform_fn that answers a constant, so the
report separates our cost from the container's. The client keeps one HTTP/1.1 connection open (keep-alive,
as a pooled client such as botocore does); a connection per request is measured too, since the image's
nginx opens a new upstream connection to gunicorn for every request (sagemaker-containers
etc/nginx.conf.template: no upstream keepalive). The machine may be shared: rounds alternate between every
variant, in-process floor included, so that outside load hits them alike.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "serving")]

import inference  # noqa: E402
import local_server  # noqa: E402
from infra.packaging import SERVING_FILES  # noqa: E402

TARGETS = {("compiled path", 1): 1.3, ("compiled path", 100): 1.2}
SERVER_P50_TARGET = 2.5
WARMUP_REQUESTS = 50
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
# The container's own floor: same stack and response size, no model (packed as inference.py).
CONSTANT_PROGRAM = '''"""A transform_fn answering a constant: the serving stack's own cost per request."""

from sagemaker_containers.beta.framework import worker

BODY = {body!r}


def model_fn(model_dir):
    return None


def transform_fn(model, request_body, content_type, accept):
    return worker.Response(response=BODY, status=200, mimetype="application/json")
'''


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
    variants: dict[str, Callable[[], object]], rounds: int = 45
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
    round_calls = max(3, int(calls * 0.03 / 0.05))
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


def prepared_row(model: inference.LoadedModel, batch: list[list[object]]) -> Any:
    """The floor's input: the fitted ColumnTransformer's own output for the rows (float64 numpy)."""
    return model.pipeline[:-1].transform(inference._frame(model, batch))


def in_process(
    model: inference.LoadedModel, rows: list[list[object]]
) -> dict[int, dict[str, tuple[float, float]]]:
    assert model.compiled is not None, "the benchmark model did not compile"
    assert model.kernel is not None, "the benchmark model has no estimator kernel"
    results = {}
    for count in (1, 100):
        body = json.dumps({"instances": rows[:count]})
        batch = inference.parse_rows(model, body, inference.JSON)
        frame = inference._frame(model, batch)
        assert inference.handle(model, body, inference.JSON, inference.JSON)[0] == 200
        results[count] = interleaved(
            {
                "floor: estimator on numpy": functools.partial(
                    model.estimator.predict_proba, prepared_row(model, batch)
                ),
                "Pipeline predict_proba": functools.partial(model.pipeline.predict_proba, frame),
                "estimator kernel": functools.partial(
                    model.kernel.predict_proba, model.compiled.transform(batch)
                ),
                "compiled path": functools.partial(model.predict_proba, batch),
                "handler (JSON)": functools.partial(
                    inference.handle, model, body, inference.JSON, inference.JSON
                ),
            }
        )
    return results


class Client:
    """Single-row POSTs to one server: over one kept-alive connection, or a new connection each time."""

    def __init__(self, url: str, body: bytes, keep_alive: bool) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.body = body
        self.keep_alive = keep_alive
        self.connection = http.client.HTTPConnection(*self.address, timeout=10)
        self.socket: object = None

    def start_round(self) -> None:
        """A kept-alive connection opened (and used once, untimed) per round: gunicorn closes a connection
        idle for its keepalive (2 s), which the other variants' turns may exceed on a loaded machine."""
        if self.keep_alive:
            self.connection.close()
            self.connection = http.client.HTTPConnection(*self.address, timeout=10)
            self.socket = None
            self.once()

    def once(self) -> float:
        if not self.keep_alive:
            self.connection = http.client.HTTPConnection(*self.address, timeout=10)
        start = time.perf_counter()
        self.connection.request("POST", "/invocations", body=self.body, headers=JSON_HEADERS)
        response = self.connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 200, response.status
        if self.keep_alive:
            # The server kept the connection: every request of the round went over one socket.
            self.socket = self.socket or self.connection.sock
            assert self.connection.sock is self.socket, "the server closed the kept-alive connection"
        else:
            self.connection.close()
        return elapsed

    def close(self) -> None:
        self.connection.close()


def timed_calls(function: Callable[[], object], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def server_rounds(
    clients: dict[str, Client], in_process_calls: dict[str, Callable[[], object]], requests: int, rounds: int
) -> dict[str, list[float]]:
    """Per-call seconds of every client and in-process call, alternating in ``rounds`` rounds."""
    for client in clients.values():
        for _ in range(WARMUP_REQUESTS):
            client.once()
    samples: dict[str, list[float]] = {name: [] for name in [*clients, *in_process_calls]}
    per_round = max(1, requests // rounds)
    for _ in range(rounds):
        for name, client in clients.items():
            client.start_round()
            samples[name] += [client.once() for _ in range(per_round)]
        for name, function in in_process_calls.items():
            samples[name] += timed_calls(function, per_round)
    for client in clients.values():
        client.close()
    return samples


def constant_code_archive(workdir: Path, answer: bytes) -> Path:
    directory = workdir / "constant-code"
    directory.mkdir()
    (directory / "inference.py").write_text(CONSTANT_PROGRAM.format(body=answer), encoding="utf-8")
    paths = {n: ROOT / "serving" / n for n in SERVING_FILES if n != "inference.py"}
    return pack({**paths, "inference.py": directory / "inference.py"}, workdir / "constant.tar.gz")


def print_server_report(samples: dict[str, list[float]]) -> None:
    floor = statistics.median(samples["floor"])
    handler = statistics.median(samples["handler"])
    print(
        f"\nserving stack (sagemaker-containers + gunicorn/gevent + Flask, 1 worker), single-row JSON over "
        f"127.0.0.1, {len(samples['model, keep-alive'])} requests per variant in alternating rounds;\n"
        f"in the same rounds: floor (estimator on numpy, 1 row) p50 {floor * 1e3:.3f} ms, "
        f"handler in process p50 {handler * 1e3:.3f} ms = {handler / floor:.2f}x floor"
    )
    print(f"{'server':<36}{'p50':>9}{'x floor':>9}{'p99':>10}{'x floor':>9}")
    for name in (
        "model, keep-alive",
        "constant, keep-alive",
        "model, new connection",
        "constant, new connection",
    ):
        quantiles = statistics.quantiles(samples[name], n=100)
        p50, p99 = quantiles[49], quantiles[98]
        mark = f"  (target <= {SERVER_P50_TARGET})" if name == "model, keep-alive" else ""
        print(
            f"{name:<36}{p50 * 1e3:>6.3f} ms{p50 / floor:>8.2f}x{p99 * 1e3:>7.3f} ms{p99 / floor:>8.2f}x{mark}"
        )
    for mode in ("keep-alive", "new connection"):
        ours = statistics.median(samples[f"model, {mode}"]) - statistics.median(samples[f"constant, {mode}"])
        print(
            f"our share ({mode}): model p50 - constant p50 = {ours * 1e3:.3f} ms "
            f"= {ours / handler:.2f}x the in-process handler"
        )


def serve_both(
    workdir: Path, model_dir: Path, model: inference.LoadedModel, rows: list[list[object]], requests: int
) -> dict[str, list[float]]:
    body = json.dumps({"instances": rows[:1]})
    answer = inference.handle(model, body, inference.JSON, inference.JSON)[1]
    batch = inference.parse_rows(model, body, inference.JSON)
    in_process_calls: dict[str, Callable[[], object]] = {
        "floor": functools.partial(model.estimator.predict_proba, prepared_row(model, batch)),
        "handler": functools.partial(inference.handle, model, body, inference.JSON, inference.JSON),
    }
    model_archive = pack({p.name: p for p in model_dir.iterdir()}, workdir / "model.tar.gz")
    code_archive = pack({n: ROOT / "serving" / n for n in SERVING_FILES}, workdir / "sourcedir.tar.gz")
    with (
        local_server.serve(model_archive, code_archive) as real,
        local_server.serve(model_archive, constant_code_archive(workdir, answer)) as constant,
    ):
        clients = {
            f"{name}, {mode}": Client(server.url, body.encode(), keep_alive=mode == "keep-alive")
            for mode in ("keep-alive", "new connection")
            for name, server in (("model", real), ("constant", constant))
        }
        return server_rounds(clients, in_process_calls, requests, rounds=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="single-row requests per server variant")
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
        print(f"{'in process':<28}{'rows':>5}{'per call':>12}{'x floor':>9}{'target':>8}")
        for count, variants in results.items():
            for name, (seconds, ratio) in variants.items():
                target = TARGETS.get((name, count))
                mark = f"<= {target}" if target else ""
                print(f"{name:<28}{count:>5}{seconds * 1e3:>9.3f} ms{ratio:>8.2f}x{mark:>8}")
        print_server_report(serve_both(workdir, model_dir, model, rows, arguments.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
