"""serving/local_server.py: both code layouts, the HTTP contract, setup failures, the command line."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import (
    FIXTURE_MODEL_VERSION,
    SAMPLE_OBJECT,
    SAMPLE_ROW,
    SERVING_DIR,
    build_model_dir,
    pack_code,
    pack_directory,
    with_bundled_code,
)
from http_client import invoke, request

import local_server

VALID_JSON = json.dumps({"instances": [SAMPLE_ROW]})


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archives")
    model_dir = build_model_dir(root / "model")
    return {
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


def test_inference_is_imported_from_the_extracted_code(server):
    assert (server.code_dir / "inference.py").is_file()
    assert SERVING_DIR not in server.code_dir.parents
    modules = [
        m
        for m in sys.modules.values()
        if getattr(m, "__file__", None) == str(server.code_dir / "inference.py")
    ]
    assert len(modules) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (VALID_JSON, "application/json"),
        (json.dumps({"instances": [SAMPLE_OBJECT]}), "application/json; charset=utf-8"),
        (",".join(map(str, SAMPLE_ROW)), "text/csv"),
    ],
)
def test_invocations(server, body, content_type):
    status, answer = invoke(server.url, body, content_type)
    assert status == 200
    assert answer["model_version"] == FIXTURE_MODEL_VERSION
    assert len(answer["predictions"]) == 1
    assert sum(answer["probabilities"][0]) == pytest.approx(1.0)


def test_missing_content_type_is_json_as_in_the_container(server):
    assert invoke(server.url, VALID_JSON, content_type=None)[0] == 200


def test_contenttype_header_wins_as_in_the_container(server):
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
    ("body", "content_type", "accept", "status", "code"),
    [
        (VALID_JSON, "text/plain", None, 415, "unsupported_content_type"),
        (VALID_JSON, "application/json", "text/csv", 406, "not_acceptable"),
        ("", "application/json", None, 400, "empty_body"),
        (b"\xff\xfe", "text/csv", None, 400, "invalid_encoding"),
        ('{"instances": [[1, 2]]}', "application/json", None, 400, "wrong_column_count"),
        (
            json.dumps({"instances": [{**SAMPLE_OBJECT, "foo": 1}]}),
            "application/json",
            None,
            400,
            "unknown_feature",
        ),
    ],
)
def test_bad_invocations(server, body, content_type, accept, status, code):
    got_status, answer = invoke(server.url, body, content_type, accept)
    assert got_status == status
    assert answer["error"]["code"] == code


def test_unknown_paths_are_404_json(server):
    status, payload, content_type = request(server.url, "GET", "/metrics")
    assert (status, content_type) == (404, "application/json")
    assert json.loads(payload)["error"]["code"] == "not_found"
    assert request(server.url, "POST", "/predict", VALID_JSON)[0] == 404


def test_shutdown_removes_the_extracted_files(archives):
    running = local_server.serve(archives["model_with_code"])
    workdir = running.model_dir.parent
    assert workdir.is_dir()
    running.shutdown()
    running.shutdown()
    assert not workdir.exists()


def test_the_served_code_is_the_packed_code_not_the_repository(tmp_path, archives):
    patched = (
        (SERVING_DIR / "inference.py").read_text().replace("DEFAULT_MAX_ROWS = 1000", "DEFAULT_MAX_ROWS = 1")
    )
    assert "DEFAULT_MAX_ROWS = 1\n" in patched
    code_archive = tmp_path / "patched.tar.gz"
    with tarfile.open(code_archive, "w:gz") as tar:
        data = patched.encode()
        info = tarfile.TarInfo("inference.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with local_server.serve(archives["model"], code_archive) as running:
        status, answer = invoke(running.url, json.dumps({"instances": [SAMPLE_ROW, SAMPLE_ROW]}))
    assert (status, answer["error"]["code"]) == (400, "too_many_rows")


def test_model_archive_without_code_needs_a_code_archive(archives):
    with pytest.raises(local_server.ServingSetupError, match="--code"):
        local_server.serve(archives["model"])


def test_code_archive_without_inference_module(tmp_path, archives):
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(local_server.ServingSetupError, match=r"no inference\.py"):
        local_server.serve(archives["model"], empty)


def test_model_archive_without_model_file(tmp_path, archives):
    model_dir = build_model_dir(tmp_path / "model")
    (model_dir / "model.joblib").unlink()
    archive = pack_directory(model_dir, tmp_path / "model.tar.gz")
    with pytest.raises(local_server.ServingSetupError, match=r"model\.joblib"):
        local_server.serve(archive, archives["code"])


def test_missing_or_corrupt_archive(tmp_path, archives):
    with pytest.raises(local_server.ServingSetupError, match="does not exist"):
        local_server.serve(tmp_path / "absent.tar.gz", archives["code"])
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"not a tar file")
    with pytest.raises(local_server.ServingSetupError, match="cannot extract"):
        local_server.serve(corrupt, archives["code"])


def test_archive_members_escaping_the_directory_are_refused(tmp_path, archives):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(local_server.ServingSetupError, match="cannot extract"):
        local_server.serve(archives["model"], evil)


def test_only_loopback_is_served(archives):
    with pytest.raises(local_server.ServingSetupError, match="loopback"):
        local_server.serve(archives["model_with_code"], host="0.0.0.0")


@pytest.mark.slow
def test_command_line_serves_until_terminated(archives):
    command = [sys.executable, str(SERVING_DIR / "local_server.py"), "--model", str(archives["model"])]
    process = subprocess.Popen(
        [*command, "--code", str(archives["code"]), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline().strip()
        assert first_line.startswith("serving on http://127.0.0.1:"), process.stderr.read()
        url = first_line.removeprefix("serving on ")
        assert request(url, "GET", "/ping")[0] == 200
        assert invoke(url, VALID_JSON)[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read().strip() == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_line_reports_setup_errors(tmp_path):
    code = local_server.main(["--model", str(tmp_path / "absent.tar.gz"), "--port", "0"])
    assert code == 1
