"""serving/local_server.py on the image's real serving stack: both layouts, what the container answers.

Every status asserted here is what sagemaker-containers 2.8.6.post2 + Flask/Werkzeug + gunicorn (gevent)
at the image's pins answer, served from .venv-serving; nothing is imitated.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import local_server
from tests.serving.conftest import (
    FIXTURE_MODEL_VERSION,
    SAMPLE_OBJECT,
    SAMPLE_ROW,
    SERVING_DIR,
    build_model_dir,
    pack_code,
    pack_directory,
    with_bundled_code,
)
from tests.serving.http_client import invoke, request

pytestmark = pytest.mark.slow

VALID_JSON = json.dumps({"instances": [SAMPLE_ROW]})
VALID_CSV = ",".join(map(str, SAMPLE_ROW))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def no_index_environment() -> dict[str, str]:
    """pip cut off from every index: no index, an index URL on a closed port, no config files."""
    return {
        "PIP_NO_INDEX": "1",
        "PIP_INDEX_URL": f"http://127.0.0.1:{closed_port()}/simple",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "5",
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archives")
    model_dir = build_model_dir(root / "model")
    return {
        "model_dir": model_dir,
        "model": pack_directory(model_dir, root / "model.tar.gz"),
        "model_with_code": pack_directory(
            with_bundled_code(model_dir, root / "bundled"), root / "bundled.tar.gz"
        ),
        "code": pack_code(root / "sourcedir.tar.gz"),
    }


@pytest.fixture(scope="module", params=["separate_code_archive", "code_inside_model"])
def server(request, archives):
    if request.param == "separate_code_archive":
        running = local_server.serve(archives["model"], archives["code"])
    else:
        running = local_server.serve(archives["model_with_code"])
    yield running
    running.shutdown()


def test_ping(server):
    assert request(server.url, "GET", "/ping")[0] == 200


def test_the_container_pip_installs_the_packed_code(server):
    log = server.log()
    assert "Successfully installed sagestack-inference-1.0.0" in log
    assert (server.code_dir / "inference.py").is_file()
    assert SERVING_DIR not in server.code_dir.parents


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (VALID_JSON, "application/json"),
        (json.dumps({"instances": [SAMPLE_OBJECT]}), "application/json; charset=utf-8"),
        (VALID_CSV, "text/csv"),
        (VALID_CSV, "text/csv; charset=UTF-8"),
    ],
)
def test_invocations(server, body, content_type):
    status, answer = invoke(server.url, body, content_type)
    assert status == 200
    assert answer["model_version"] == FIXTURE_MODEL_VERSION
    assert len(answer["predictions"]) == 1
    assert sum(answer["probabilities"][0]) == pytest.approx(1.0)


def test_missing_content_type_is_json(server):
    # sagemaker_containers worker.Request.content_type: ContentType, then Content-Type, else JSON.
    assert invoke(server.url, VALID_JSON, content_type=None)[0] == 200


def test_contenttype_header_wins(server):
    status, payload, _ = request(
        server.url,
        "POST",
        "/invocations",
        VALID_JSON,
        {"ContentType": "text/plain", "Content-Type": "application/json"},
    )
    assert status == 415
    assert json.loads(payload)["error"]["code"] == "unsupported_content_type"


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (None, 200),  # worker.Request.accept: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT
        ("*/*", 200),  # the same substitution
        ("application/json", 200),
        ("text/csv, application/*", 200),
        ("application/json;q=0, text/csv", 200),  # q-values are not weighed
        ("text/csv", 406),
        ("application/x-npy;q=1", 406),
    ],
)
def test_accept_matching(server, accept, status):
    got, answer = invoke(server.url, VALID_JSON, "application/json", accept)
    assert got == status
    if status == 406:
        assert (answer["error"]["code"], answer["error"]["field"]) == ("not_acceptable", "Accept")


def bad_category_csv() -> bytes:
    row = [str(v) for v in SAMPLE_ROW]
    row[5] = "month-to-month\udcff"
    return ",".join(row).encode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (VALID_JSON, "text/plain", 415, "unsupported_content_type"),
        (VALID_JSON, "application/json; version=2", 415, "unsupported_content_type"),
        ("", "application/json", 400, "empty_body"),
        ("{", "application/json", 400, "invalid_json"),
        # Bare text/csv and application/json are decoded by the container with replacement characters
        # (worker.Request.content -> get_data(as_text=True)): a bad byte reaches the handler as U+FFFD.
        (bad_category_csv(), "text/csv", 400, "unknown_category"),
        (b"\xff\xfe", "text/csv", 400, "wrong_column_count"),
        # With a charset parameter the container passes bytes through, and the handler decodes strictly.
        (bad_category_csv(), "text/csv; charset=utf-8", 400, "invalid_encoding"),
        ('{"instances": [[1, 2]]}', "application/json", 400, "wrong_column_count"),
        (
            json.dumps({"instances": [{**SAMPLE_OBJECT, "foo": 1}]}),
            "application/json",
            400,
            "unknown_feature",
        ),
        (json.dumps({"instances": [SAMPLE_ROW] * 1001}), "application/json", 400, "too_many_rows"),
    ],
)
def test_bad_invocations(server, body, content_type, status, code):
    got_status, answer = invoke(server.url, body, content_type)
    assert got_status == status
    assert answer["error"]["code"] == code


def test_chunked_uploads_are_read_whole(server):
    for body in ([VALID_JSON[:10].encode(), VALID_JSON[10:].encode()], [b"{"]):
        # http.client sends an iterable body without Content-Length as Transfer-Encoding: chunked.
        headers = {"Content-Type": "application/json"}
        status, payload, _ = request(server.url, "POST", "/invocations", iter(body), headers)
        expected = 200 if len(body) == 2 else 400
        assert status == expected, payload


def test_a_body_beyond_the_invoke_limit_is_still_a_400(server):
    # The image's nginx sets client_max_body_size 0 and gunicorn has no body limit: no 413 here.
    body = json.dumps({"instances": [SAMPLE_ROW] * 100_000})
    assert len(body) > 6 * 1024 * 1024
    status, answer = invoke(server.url, body, "application/json")
    assert (status, answer["error"]["code"]) == (400, "too_many_rows")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/invocations", 405),
        ("POST", "/ping", 405),
        ("GET", "/metrics", 404),
        ("POST", "/predict", 404),
    ],
)
def test_other_routes(server, method, path, status):
    assert request(server.url, method, path, VALID_JSON if method == "POST" else None)[0] == status


def test_no_worker_was_lost(server):
    invoke(server.url, VALID_JSON)
    log = server.log()
    assert log.count("Booting worker") == 1, log[-2000:]
    assert "WORKER TIMEOUT" not in log and "Worker exited" not in log
    assert server.running()


def test_isolated_layout_starts_with_no_package_index_and_shutdown_removes_everything(archives):
    running = local_server.serve(archives["model_with_code"], env=no_index_environment())
    workdir = running.model_dir.parents[1]
    group = os.getpgid(running.pid)
    try:
        assert request(running.url, "GET", "/ping")[0] == 200
        status, answer = invoke(running.url, VALID_JSON)
        assert "Successfully installed sagestack-inference-1.0.0" in running.log()
        assert workdir.is_dir()
    finally:
        running.shutdown()
    assert status == 200
    assert answer["model_version"] == FIXTURE_MODEL_VERSION
    running.shutdown()  # a second shutdown is a no-op
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)


def test_a_setup_py_only_code_directory_cannot_start_with_no_index(tmp_path, archives):
    # Twin of the test above: issue 13, item 1. Without pyproject.toml, pip builds the directory that
    # sagemaker-containers prepares (it writes a setup.py) in an isolated environment that needs setuptools.
    bundled = tmp_path / "bundled"
    with_bundled_code(archives["model_dir"], bundled)
    for name in ("pyproject.toml", "inference_build.py"):
        (bundled / "code" / name).unlink()
    archive = pack_directory(bundled, tmp_path / "bundled.tar.gz")
    with pytest.raises(local_server.ServingSetupError) as error:
        local_server.serve(archive, env=no_index_environment())
    message = str(error.value)
    assert "exited" in message
    assert "setuptools>=40.8.0" in message
    assert "InstallModuleError" in message


def test_a_model_that_cannot_load_fails_the_start(tmp_path, archives):
    model_dir = build_model_dir(tmp_path / "model")
    (model_dir / "model.joblib").unlink()
    archive = pack_directory(model_dir, tmp_path / "model.tar.gz")
    with pytest.raises(local_server.ServingSetupError, match=r"(?s)/ping with 500.*model\.joblib"):
        local_server.serve(archive, archives["code"])


# --- setup errors found before anything starts ---------------------------------------------------------


def test_model_archive_without_code_needs_a_code_archive(archives):
    with pytest.raises(local_server.ServingSetupError, match="--code"):
        local_server.serve(archives["model"])


def test_code_archive_without_inference_module(tmp_path, archives):
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(local_server.ServingSetupError, match=r"no inference\.py"):
        local_server.serve(archives["model"], empty)


def test_missing_or_corrupt_archive(tmp_path, archives):
    with pytest.raises(local_server.ServingSetupError, match="does not exist"):
        local_server.serve(tmp_path / "absent.tar.gz", archives["code"])
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"not a tar file")
    with pytest.raises(local_server.ServingSetupError, match="cannot extract"):
        local_server.serve(corrupt, archives["code"])
    with pytest.raises(local_server.ServingSetupError, match="cannot extract"):
        local_server.serve(archives["model"], corrupt)


@pytest.mark.parametrize("as_code_archive", [True, False])
def test_archive_members_escaping_the_directory_are_refused(tmp_path, archives, as_code_archive):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name in ("inference.py", "../escaped.py"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(local_server.ServingSetupError, match=r"escape|cannot extract"):
        if as_code_archive:
            local_server.serve(archives["model"], evil)
        else:
            local_server.serve(evil, archives["code"])


def test_workers_must_be_positive(archives):
    with pytest.raises(local_server.ServingSetupError, match="workers"):
        local_server.serve(archives["model_with_code"], workers=0)


def test_a_missing_serving_stack_is_named(monkeypatch, tmp_path, archives):
    monkeypatch.setattr(local_server, "SERVING_VENV", tmp_path / "absent")
    with pytest.raises(local_server.ServingSetupError, match="make setup"):
        local_server.serve(archives["model_with_code"])


def _patched_code_archive(folder: Path) -> Path:
    """The serving code with DEFAULT_MAX_ROWS = 1: a server answering too_many_rows for two rows runs it."""
    folder.mkdir()
    for name in ("pyproject.toml", "inference_build.py", "requirements.txt", "compiled_estimator.py"):
        shutil.copy2(SERVING_DIR / name, folder / name)
    patched = (
        (SERVING_DIR / "inference.py").read_text().replace("DEFAULT_MAX_ROWS = 1000", "DEFAULT_MAX_ROWS = 1")
    )
    assert "DEFAULT_MAX_ROWS = 1\n" in patched
    (folder / "inference.py").write_text(patched)
    return pack_directory(folder, folder.with_suffix(".tar.gz"))


def test_command_line_serves_the_packed_code_until_terminated(tmp_path, archives):
    command = [sys.executable, str(SERVING_DIR / "local_server.py"), "--model", str(archives["model"])]
    code_archive = _patched_code_archive(tmp_path / "patched")
    process = subprocess.Popen(
        [*command, "--code", str(code_archive), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first_line = process.stdout.readline().strip()
        assert first_line.startswith("serving on http://127.0.0.1:"), process.stderr.read()
        url = first_line.removeprefix("serving on ").split(" ")[0]
        assert request(url, "GET", "/ping")[0] == 200
        assert invoke(url, VALID_JSON)[0] == 200
        # The packed code is served, not the repository's (whose limit is 1000 rows).
        status, answer = invoke(url, json.dumps({"instances": [SAMPLE_ROW, SAMPLE_ROW]}))
        assert (status, answer["error"]["code"]) == (400, "too_many_rows")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stdout.read().strip() == "stopped"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_serving_stack_that_cannot_import_is_named_with_the_import_error(monkeypatch, tmp_path, archives):
    python = tmp_path / "broken" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'gevent'\" >&2\nexit 1\n")
    python.chmod(0o755)
    monkeypatch.setattr(local_server, "SERVING_VENV", tmp_path / "broken")
    with pytest.raises(local_server.ServingSetupError) as error:
        local_server.serve(archives["model_with_code"])
    assert str(error.value) == (
        f"serving stack {tmp_path / 'broken'} is not installed "
        "(ModuleNotFoundError: No module named 'gevent'); run `make setup`"
    )


def test_command_line_reports_setup_errors(tmp_path):
    code = local_server.main(["--model", str(tmp_path / "absent.tar.gz"), "--port", "0"])
    assert code == 1
