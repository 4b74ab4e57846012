"""serving/verify.py against moto on 127.0.0.1 (control plane, seeded runtime answers) and against the
real inference code behind a loopback stand-in for the SageMaker runtime API (4xx -> ModelError)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

import local_server
import verify
from rehearsal import emulator
from tests.serving.conftest import SCHEMA, build_model_dir, pack_code, pack_directory

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENDPOINT = "sagestack-dev-endpoint"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagestack-sagemaker"
FEATURES = SCHEMA["features"]
ROWS = [verify.sample_row(FEATURES)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with emulator.moto_server() as url:  # the project's one moto launcher
        yield url


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, moto_url):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)


def client(service: str, url: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url)


def deploy(moto_url: str, served_config: str = "config-b", weight: float = 1.0) -> Any:
    """Model + two endpoint configs (a, b) + the endpoint on ``served_config``."""
    sagemaker = client("sagemaker", moto_url)
    sagemaker.create_model(
        ModelName="model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "sklearn:1.9-0", "ModelDataUrl": "s3://m"},
    )
    for name in ("config-a", "config-b"):
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": weight,
                }
            ],
        )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=served_config)
    return sagemaker


def moto_endpoint(name: str = ENDPOINT) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION].endpoints[name]


def seed(moto_url: str, *bodies: Any) -> None:
    results = [
        {"Body": json.dumps(b) if not isinstance(b, str) else b, "ContentType": "application/json"}
        for b in bodies
    ]
    response = requests.post(
        f"{moto_url}/moto-api/static/sagemaker/endpoint-results", json={"results": results}, timeout=10
    )
    assert response.status_code == 201


def good_answer(model_version: str = "sagestack-dev-train-1a2b3c4d") -> dict[str, Any]:
    return {
        "model_version": model_version,
        "classes": [0, 1],
        "predictions": [1],
        "probabilities": [[0.25, 0.75]],
    }


def run_verify(moto_url: str, runtime_url: str | None = None, **overrides: Any) -> verify.Report:
    arguments = {
        "sagemaker": client("sagemaker", moto_url),
        "runtime": client("sagemaker-runtime", runtime_url or moto_url),
        "endpoint_name": ENDPOINT,
        "expected_config": "config-b",
        "features": FEATURES,
        "rows": ROWS,
    }
    arguments.update(overrides)
    return verify.verify(**arguments)


# --- a stand-in for the SageMaker runtime API in front of the local server ------------------------------


class _RuntimeHandler(BaseHTTPRequestHandler):
    """POST /endpoints/{name}/invocations -> the container; its 4xx/5xx become ModelError (HTTP 424)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        container = http.client.HTTPConnection("127.0.0.1", self.server.container_port, timeout=10)
        headers = {"Content-Type": self.headers["Content-Type"], "Accept": self.headers.get("Accept", "*/*")}
        container.request("POST", "/invocations", body=body, headers=headers)
        answer = container.getresponse()
        payload = answer.read()
        container.close()
        if answer.status == 200:
            self.send_response(200)
            self.send_header("Content-Type", answer.getheader("Content-Type"))
            self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
        else:
            error = {
                "Message": f'Received client error ({answer.status}) from primary with message "{payload.decode()}"',
                "OriginalStatusCode": answer.status,
                "OriginalMessage": payload.decode(),
                "LogStreamArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{ENDPOINT}",
            }
            payload = json.dumps(error).encode()
            self.send_response(424)
            self.send_header("Content-Type", "application/json")
            self.send_header(
                "x-amzn-ErrorType", "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"
            )
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def runtime_url(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("verify")
    model_archive = pack_directory(build_model_dir(root / "model"), root / "model.tar.gz")
    with local_server.serve(model_archive, pack_code(root / "sourcedir.tar.gz")) as container:
        runtime = ThreadingHTTPServer(("127.0.0.1", 0), _RuntimeHandler)
        runtime.container_port = container.port
        thread = threading.Thread(target=runtime.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{runtime.server_address[1]}"
        runtime.shutdown()
        runtime.server_close()


# --- tests ----------------------------------------------------------------------------------------------


def test_verified_against_the_real_inference_code(moto_url, runtime_url):
    deploy(moto_url)
    report = run_verify(moto_url, runtime_url, expected_model_version="fixture-model-v1")
    assert report.ok, report.failures
    assert any("refused with 400 wrong_column_count" in line for line in report.passed)
    assert any("CSV rows: 200" in line for line in report.passed)


def test_rolled_back_endpoint_fails(moto_url, runtime_url):
    deploy(moto_url, served_config="config-a")
    report = run_verify(moto_url, runtime_url)
    assert not report.ok
    assert report.failures == [
        f"endpoint {ENDPOINT} serves endpoint config 'config-a', expected 'config-b': "
        "the deployment was rolled back or never applied"
    ]


@pytest.mark.parametrize("status", ["Updating", "Failed", "RollingBack", "Creating"])
def test_endpoint_not_in_service_fails(moto_url, runtime_url, status):
    deploy(moto_url)
    moto_endpoint().endpoint_status = status
    report = run_verify(moto_url, runtime_url)
    assert report.failures == [f"endpoint {ENDPOINT} is {status}, expected InService"]


def test_missing_endpoint_fails(moto_url, runtime_url):
    report = run_verify(moto_url, runtime_url)
    assert len(report.failures) == 1
    assert f"cannot describe endpoint '{ENDPOINT}'" in report.failures[0]


def test_deployment_in_progress_fails(moto_url, runtime_url, monkeypatch):
    sagemaker = deploy(moto_url)
    original = sagemaker.describe_endpoint

    def describe_with_pending(**kwargs):
        return {**original(**kwargs), "PendingDeploymentSummary": {"EndpointConfigName": "config-c"}}

    monkeypatch.setattr(sagemaker, "describe_endpoint", describe_with_pending)
    report = run_verify(moto_url, runtime_url, sagemaker=sagemaker)
    assert len(report.failures) == 1
    assert "deployment in progress" in report.failures[0]


def test_variant_without_traffic_fails(moto_url, runtime_url):
    deploy(moto_url)
    moto_endpoint().production_variants[0]["CurrentWeight"] = 0.0
    report = run_verify(moto_url, runtime_url)
    assert len(report.failures) == 1
    assert "current weight 0.0, desired 1.0" in report.failures[0]


def test_variant_below_desired_instance_count_fails(moto_url, runtime_url):
    deploy(moto_url)
    moto_endpoint().production_variants[0]["CurrentInstanceCount"] = 0
    report = run_verify(moto_url, runtime_url)
    assert report.failures == ["variant AllTraffic runs 0 instance(s), desired 1"]


def test_unknown_variant_fails(moto_url, runtime_url):
    deploy(moto_url)
    report = run_verify(moto_url, runtime_url, variant="Canary")
    assert report.failures == ["variant 'Canary' not found in ['AllTraffic']"]


def test_expected_model_version_mismatch_fails(moto_url, runtime_url):
    deploy(moto_url)
    report = run_verify(moto_url, runtime_url, expected_model_version="sagestack-dev-train-ffffffff")
    assert len(report.failures) == 3
    assert all("expected 'sagestack-dev-train-ffffffff'" in failure for failure in report.failures)


def test_seeded_good_answers_still_fail_when_bad_payloads_are_accepted(moto_url):
    deploy(moto_url)
    seed(moto_url, good_answer(), good_answer(), good_answer(), good_answer())
    report = run_verify(moto_url)
    assert len(report.passed) >= 3
    assert len(report.failures) == 1
    assert "answered 200 instead of 400" in report.failures[0]


@pytest.mark.parametrize(
    ("bad_answer", "problem"),
    [
        ({**good_answer(), "probabilities": [[0.5, 0.6]]}, "do not sum to 1"),
        ({**good_answer(), "probabilities": [[1.5, -0.5]]}, "do not sum to 1"),
        ({**good_answer(), "predictions": [1, 0]}, "expected 1 predictions"),
        ({**good_answer(), "predictions": [7]}, "not all among classes"),
        ({**good_answer(), "model_version": ""}, "model_version missing"),
        ({k: v for k, v in good_answer().items() if k != "model_version"}, "not the contract's JSON"),
        ("<html>oops</html>", "not the contract's JSON"),
    ],
)
def test_seeded_bad_answers_fail(moto_url, bad_answer, problem):
    deploy(moto_url)
    seed(moto_url, good_answer(), bad_answer, good_answer())
    report = run_verify(moto_url)
    assert len(report.failures) == 1, report.failures
    assert report.failures[0].startswith("JSON object rows: ")
    assert problem in report.failures[0]


def test_command_line_verifies_and_fails(moto_url, runtime_url, tmp_path, monkeypatch, capsys):
    deploy(moto_url)
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_url)
    base = ["--endpoint-name", ENDPOINT, "--schema", str(schema_file), "--region", REGION]
    assert verify.main([*base, "--expected-endpoint-config", "config-b"]) == verify.EXIT_OK
    assert f"{ENDPOINT}: verified" in capsys.readouterr().out
    assert verify.main([*base, "--expected-endpoint-config", "config-c"]) == verify.EXIT_FAILED
    assert (
        "FAIL: endpoint sagestack-dev-endpoint serves endpoint config 'config-b'" in capsys.readouterr().out
    )


def test_command_line_with_a_payload_file(moto_url, runtime_url, tmp_path, monkeypatch):
    deploy(moto_url)
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    payloads = tmp_path / "payloads.json"
    payloads.write_text(json.dumps({"instances": [ROWS[0], ROWS[0]]}))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_url)
    arguments = [
        "--endpoint-name",
        ENDPOINT,
        "--expected-endpoint-config",
        "config-b",
        "--schema",
        str(schema_file),
    ]
    assert verify.main([*arguments, "--payloads", str(payloads)]) == verify.EXIT_OK


@pytest.mark.parametrize(
    ("schema_text", "payload_text", "message"),
    [
        (None, None, "cannot read a JSON schema"),
        ("{not json", None, "cannot read a JSON schema"),
        ('{"features": []}', None, "non-empty 'features'"),
        ('{"features": [{"name": "c", "type": "categorical"}]}', None, "has no categories"),
        (json.dumps(SCHEMA), '{"instances": [[1, 2]]}', "list of 8 values"),
        (json.dumps(SCHEMA), '{"rows": []}', "at least one row"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, schema_text, payload_text, message):
    schema_file = tmp_path / "schema.json"
    if schema_text is not None:
        schema_file.write_text(schema_text)
    arguments = ["--endpoint-name", ENDPOINT, "--expected-endpoint-config", "c", "--schema", str(schema_file)]
    if payload_text is not None:
        payload_file = tmp_path / "payloads.json"
        payload_file.write_text(payload_text)
        arguments += ["--payloads", str(payload_file)]
    assert verify.main(arguments) == verify.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_missing_required_arguments_exit_2():
    with pytest.raises(SystemExit) as exit_info:
        verify.main(["--endpoint-name", ENDPOINT])
    assert exit_info.value.code == verify.EXIT_USAGE


def test_sample_row_follows_the_schema():
    assert verify.sample_row(FEATURES) == [
        60.0,
        100.0,
        12500.0,
        25.0,
        59.0,
        "month-to-month",
        "electronic-check",
        "dsl",
    ]


def test_schema_written_by_training_is_accepted(tmp_path):
    import contract

    path = Path(tmp_path / "schema.json")
    path.write_text(json.dumps(contract.schema_document()))
    assert [f["name"] for f in verify.load_schema(path)] == list(contract.FEATURE_NAMES)
