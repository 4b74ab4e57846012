"""Serve a packed model locally the way the SageMaker scikit-learn container does.

    python serving/local_server.py --model model.tar.gz [--code sourcedir.tar.gz]
                                   [--host 127.0.0.1] [--port 8080]

Both code layouts of the deployment are supported: the serving code inside model.tar.gz under ``code/``
(network isolation) or a separate code archive with inference.py at its root (SAGEMAKER_SUBMIT_DIRECTORY).
inference.py is imported from the extracted archive, never from this repository, so what is served is
exactly what was packed. GET /ping answers 200 once the model is loaded; POST /invocations answers with
inference.handle's status, body and content type.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

INFERENCE_MODULE = "inference.py"
CODE_DIR = "code"
# SageMaker caps an InvokeEndpoint payload at 6 MB.
MAX_BODY_BYTES = 6 * 1024 * 1024
_module_counter = itertools.count()


class ServingSetupError(Exception):
    """The archives cannot be served: missing files, unsafe members, or a model that fails to load."""


def _extract(archive: Path, destination: Path) -> None:
    if not archive.is_file():
        raise ServingSetupError(f"archive {archive} does not exist")
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise ServingSetupError(f"cannot extract {archive}: {error}") from error


def _import_inference(code_dir: Path) -> ModuleType:
    path = code_dir / INFERENCE_MODULE
    if not path.is_file():
        raise ServingSetupError(f"no {INFERENCE_MODULE} in {code_dir}")
    name = f"sagestack_served_inference_{next(_module_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ServingSetupError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve annotations through sys.modules, so the module must be registered while it runs.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _InvocationHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY, keep-alive responses written in two parts stall on delayed ACKs.
    disable_nagle_algorithm = True
    server: _InferenceHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = self.server.error_body(code, message, None)
        self._reply(status, body, "application/json")

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._reply(200, b"", "text/plain")
        else:
            self._error(404, "not_found", f"no resource {self.path}; use GET /ping or POST /invocations")

    def do_POST(self) -> None:
        if self.path != "/invocations":
            self._error(404, "not_found", f"no resource {self.path}; use POST /invocations")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(
                413, "payload_too_large", f"body must be 0..{MAX_BODY_BYTES} bytes with a Content-Length"
            )
            return
        body = self.rfile.read(length)
        # Mirrors the container's request object: ContentType first, then Content-Type, else JSON.
        content_type = (
            self.headers.get("ContentType") or self.headers.get("Content-Type") or "application/json"
        )
        accept = self.headers.get("Accept")
        if not accept or accept == "*/*":
            accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json")
        status, payload, payload_type = self.server.handle(self.server.model, body, content_type, accept)
        self._reply(status, payload, payload_type)


class _InferenceHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        model: Any,
        handle: Callable[..., tuple[int, bytes, str]],
        verbose: bool,
    ) -> None:
        super().__init__(address, _InvocationHandler)
        self.model = model
        self.handle = handle
        self.verbose = verbose

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (Ctrl-C, a timeout) is not a server fault worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @staticmethod
    def error_body(code: str, message: str, field: str | None) -> bytes:
        return json.dumps({"error": {"code": code, "message": message, "field": field}}).encode("utf-8")


class LocalServer:
    """A running local endpoint (``url``, ``model_dir``, ``code_dir``); ``shutdown()`` stops and cleans up."""

    def __init__(
        self, http_server: _InferenceHTTPServer, workdir: Path, model_dir: Path, code_dir: Path
    ) -> None:
        self._http_server = http_server
        self._workdir = workdir
        self.model_dir = model_dir
        self.code_dir = code_dir
        host, port = http_server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=http_server.serve_forever, name="sagestack-local-server", daemon=True
        )
        self._thread.start()
        self._stopped = False

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._http_server.shutdown()
        self._http_server.server_close()
        self._thread.join(timeout=10)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def serve(
    model_archive: Path,
    code_archive: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    verbose: bool = False,
) -> LocalServer:
    """Extract the archives, import their inference.py, load the model once and start serving.

    ``port=0`` picks a free port (read it from ``.url``). Raises ServingSetupError when the archives
    cannot be served; the temporary directory is removed in that case too.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ServingSetupError(f"host {host!r}: the local server binds to loopback only (127.0.0.1)")
    workdir = Path(tempfile.mkdtemp(prefix="sagestack-serve-"))
    try:
        model_dir = workdir / "model"
        _extract(Path(model_archive), model_dir)
        if code_archive is not None:
            code_dir = workdir / "code"
            _extract(Path(code_archive), code_dir)
        else:
            code_dir = model_dir / CODE_DIR
            if not (code_dir / INFERENCE_MODULE).is_file():
                raise ServingSetupError(
                    f"{model_archive} has no {CODE_DIR}/{INFERENCE_MODULE}; "
                    "pass the serving code archive with --code"
                )
        module = _import_inference(code_dir)
        model = module.model_fn(str(model_dir))
        http_server = _InferenceHTTPServer((host, port), model, module.handle, verbose)
    except ServingSetupError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    except Exception as error:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ServingSetupError(f"cannot serve {model_archive}: {error}") from error
    return LocalServer(http_server, workdir, model_dir, code_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="model.tar.gz (model dir at the root)")
    parser.add_argument("--code", type=Path, help="serving code archive with inference.py at its root")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port, 0 for a free one (default 8080)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        server = serve(args.model, args.code, args.host, args.port, args.verbose)
    except ServingSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"serving on {server.url}", flush=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
