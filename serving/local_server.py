"""Serve a packed model locally on the scikit-learn image's real serving stack.

    python serving/local_server.py --model model.tar.gz [--code sourcedir.tar.gz] [--port 8080]

The stack is sagemaker-containers 2.8.6.post2 with gunicorn + gevent + Flask at the image's pins, installed
in its own virtualenv (``.venv-serving``, built by ``make setup`` from serving/requirements-container.txt)
and started the way the image's ``serve`` entry point starts it (serving/container/image_serving.py):
sagemaker-containers ``pip install``s the code directory, then gunicorn serves ``/ping`` and
``/invocations`` with the packed inference.py. Both code layouts of the deployment are supported:

* separate code archive (``--code``): ``SAGEMAKER_SUBMIT_DIRECTORY`` is that archive, as the stack points
  it at the archive in S3;
* network isolation (no ``--code``): the code travels inside model.tar.gz under ``code/`` and
  ``SAGEMAKER_SUBMIT_DIRECTORY`` is ``<base>/model/code``, as the stack sets ``/opt/ml/model/code``.

What differs from the image, and why: ``SAGEMAKER_BASE_DIR`` replaces /opt/ml (a temporary directory per
server); nginx is not run (``SAGEMAKER_USE_NGINX=false``; the image's nginx only proxies
/ping, /invocations and /execution-parameters with no body-size limit and answers other paths 404);
gunicorn is bound to 127.0.0.1 instead of 0.0.0.0 by a gunicorn.conf.py hook; and each server gets a
throw-away interpreter environment layered on .venv-serving, so the code that sagemaker-containers
pip-installs never outlives the server. The server runs in its own process group, killed on shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

SERVING_DIR = Path(__file__).resolve().parent
CONTAINER_DIR = SERVING_DIR / "container"
SERVING_VENV = Path(os.environ.get("SAGESTACK_SERVING_VENV", SERVING_DIR.parent / ".venv-serving"))
PROGRAM = "inference.py"
CODE_DIR = "code"
# The stack's serving_environment sets the same value (infra/serving.py).
DEFAULT_ACCEPT = "application/json"
DEFAULT_START_TIMEOUT_SECONDS = 120.0
_STOP_TIMEOUT_SECONDS = 10.0
_LOG_TAIL_CHARS = 4000
# Variables of the calling environment that would change what the served interpreter imports or installs.
_SCRUBBED_PREFIXES = ("PYTHON", "PIP_", "SAGEMAKER_", "SM_", "GUNICORN_", "VIRTUAL_ENV")
_GUNICORN_CONF = '''"""Local-only gunicorn settings; sagemaker-containers passes everything else on its command line."""

# One control socket per user home would be shared by concurrent local servers.
control_socket_disable = True


# sagemaker-containers binds 0.0.0.0; the local stack must only listen on loopback.
def on_starting(server):
    server.cfg.set("bind", ["127.0.0.1:{port}"])
'''


class ServingSetupError(Exception):
    """The archives cannot be served: missing files, unsafe members, no serving stack, or no start."""


def _extract(archive: Path, destination: Path) -> None:
    if not archive.is_file():
        raise ServingSetupError(f"archive {archive} does not exist")
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise ServingSetupError(f"cannot extract {archive}: {error}") from error


def _check_code_archive(archive: Path) -> None:
    if not archive.is_file():
        raise ServingSetupError(f"archive {archive} does not exist")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            names = tar.getnames()
    except (tarfile.TarError, OSError) as error:
        raise ServingSetupError(f"cannot extract {archive}: {error}") from error
    for name in names:
        if name.startswith(("/", "..")) or "/../" in f"/{name}/":
            raise ServingSetupError(f"cannot extract {archive}: member {name!r} escapes the directory")
    if PROGRAM not in names:
        raise ServingSetupError(f"no {PROGRAM} in {archive}")


@functools.cache
def _stack_problem(python: Path) -> str | None:
    """Why `python` cannot import the serving stack, or None; asked once per interpreter and process (~1 s)."""
    if not python.is_file():
        return "missing"
    probe = subprocess.run(
        [str(python), "-c", "import sagemaker_containers, gunicorn, gevent, flask"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]


def _stack_python() -> Path:
    python = SERVING_VENV / "bin" / "python"
    problem = _stack_problem(python)
    if problem is not None:
        raise ServingSetupError(
            f"serving stack {SERVING_VENV} is not installed ({problem}); run `make setup`"
        )
    return python


def _server_environment(stack_python: Path, root: Path) -> Path:
    """A fresh interpreter environment that sees .venv-serving's packages and installs into itself."""
    interpreter = root / "python"
    subprocess.run([str(stack_python), "-m", "venv", "--without-pip", str(interpreter)], check=True)
    stack_site = subprocess.run(
        [str(stack_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site = next((interpreter / "lib").glob("python3*/site-packages"))
    (site / "sagestack-serving-stack.pth").write_text(f"{stack_site}\n{CONTAINER_DIR}\n", encoding="utf-8")
    bin_dir = interpreter / "bin"
    scripts = {
        "serve": "from image_serving import serve\nserve()\n",
        "gunicorn": "import sys\nfrom gunicorn.app.wsgiapp import run\nsys.exit(run())\n",
    }
    for name, body in scripts.items():
        script = bin_dir / name
        script.write_text(f"#!{bin_dir / 'python'}\n{body}", encoding="utf-8")
        script.chmod(0o755)
    return bin_dir


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ping(host: str, port: int) -> int | None:
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


class LocalServer:
    """A running local endpoint (``url``, ``model_dir``, ``code_dir``); ``shutdown()`` stops and cleans up."""

    def __init__(
        self, process: subprocess.Popen[bytes], workdir: Path, model_dir: Path, code_dir: Path, port: int
    ) -> None:
        self._process = process
        self._workdir = workdir
        self.model_dir = model_dir
        # Where sagemaker-containers puts the code it installs (SAGEMAKER_BASE_DIR/code).
        self.code_dir = code_dir
        self.log_path = workdir / "server.log"
        self.host = "127.0.0.1"
        self.port = port
        self.url = f"http://{self.host}:{port}"
        self.pid = process.pid
        self._stopped = False

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        return self._process.poll() is None

    def shutdown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _stop_group(self._process)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (serve forwards it to gunicorn), then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_STOP_TIMEOUT_SECONDS)
    # gunicorn's workers may outlive serve for a moment; nothing of the group may survive the server.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=_STOP_TIMEOUT_SECONDS)


def serve(
    model_archive: Path,
    code_archive: Path | None = None,
    port: int = 0,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT_SECONDS,
) -> LocalServer:
    """Extract the model, start the real serving stack on 127.0.0.1 and wait until /ping answers 200.

    ``port=0`` picks a free port (read it from ``.url``). ``env`` adds variables to the server's
    environment (``SAGESTACK_MAX_ROWS``, ``PIP_*``, ...). Raises ServingSetupError when the archives cannot
    be served or the stack does not come up within ``start_timeout`` seconds (the server's log is in the
    message); the temporary directory and every process are removed in that case too.
    """
    if workers < 1:
        raise ServingSetupError(f"workers: got {workers}, expected at least 1")
    stack_python = _stack_python()
    workdir = Path(tempfile.mkdtemp(prefix="sagestack-serve-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        base = workdir / "opt-ml"
        model_dir = base / "model"
        _extract(Path(model_archive), model_dir)
        if code_archive is not None:
            _check_code_archive(Path(code_archive))
            submit_directory = str(Path(code_archive).resolve())
        else:
            if not (model_dir / CODE_DIR / PROGRAM).is_file():
                raise ServingSetupError(
                    f"{model_archive} has no {CODE_DIR}/{PROGRAM}; pass the serving code archive with --code"
                )
            submit_directory = str(model_dir / CODE_DIR)
        bin_dir = _server_environment(stack_python, workdir)
        port = port or _free_port("127.0.0.1")
        (workdir / "gunicorn.conf.py").write_text(_GUNICORN_CONF.format(port=port), encoding="utf-8")
        environment = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
        environment.update(
            {
                "PATH": f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "SAGEMAKER_BASE_DIR": str(base),
                "SAGEMAKER_PROGRAM": PROGRAM,
                "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
                "SAGEMAKER_SERVING_MODULE": "image_serving:main",
                "SAGEMAKER_USE_NGINX": "false",
                "SAGEMAKER_BIND_TO_PORT": str(port),
                "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": DEFAULT_ACCEPT,
            }
        )
        environment.update(env or {})
        with (workdir / "server.log").open("wb") as log:
            process = subprocess.Popen(
                [str(bin_dir / "serve")],
                cwd=workdir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = LocalServer(process, workdir, model_dir, base / CODE_DIR, port)
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise ServingSetupError(
                    f"the serving stack exited with {process.returncode} before answering /ping:\n"
                    f"{server.log()[-_LOG_TAIL_CHARS:]}"
                )
            status = _ping("127.0.0.1", port)
            if status == 200:
                return server
            if status == 500:
                # The image's glue loads the model on the first request: a 500 here is a worker that
                # cannot import the code or load the model, and it will answer 500 to every /ping.
                raise ServingSetupError(
                    f"the serving stack answers /ping with 500 (the model or code failed to load):\n"
                    f"{server.log()[-_LOG_TAIL_CHARS:]}"
                )
            if time.monotonic() > deadline:
                raise ServingSetupError(
                    f"the serving stack did not answer /ping with 200 within {start_timeout:.0f} s "
                    f"(last answer {status}):\n{server.log()[-_LOG_TAIL_CHARS:]}"
                )
            time.sleep(0.1)
    except BaseException as error:
        if process is not None:
            _stop_group(process)
        shutil.rmtree(workdir, ignore_errors=True)
        if isinstance(error, ServingSetupError | KeyboardInterrupt):
            raise
        raise ServingSetupError(f"cannot serve {model_archive}: {error}") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="model.tar.gz (model dir at the root)")
    parser.add_argument("--code", type=Path, help="serving code archive with inference.py at its root")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1, 0 for a free one")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    args = parser.parse_args(argv)
    try:
        server = serve(args.model, args.code, args.port, workers=args.workers)
    except ServingSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"serving on {server.url} (log: {server.log_path})", flush=True)
    try:
        while not stop.wait(0.5):
            if not server.running():
                print(f"error: the serving stack exited:\n{server.log()[-_LOG_TAIL_CHARS:]}", file=sys.stderr)
                return 1
    finally:
        server.shutdown()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
