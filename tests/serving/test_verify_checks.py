"""serving/verify.py's checks and CLI against in-process stand-ins for the two boto3 clients: every verdict
and message, with no moto, no server and no model (test_serving_verify.py runs it against both)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError, NoRegionError

import verify

FEATURES: list[dict[str, Any]] = [
    {"name": "a", "type": "numeric", "min": 0, "max": 10},
    {"name": "c", "type": "categorical", "categories": ["x", "y"]},
]
GOOD = {"predictions": [1], "probabilities": [[0.25, 0.75]], "classes": [0, 1], "model_version": "m-1"}
# InvokeEndpoint's ModelError carries the container's status and body as OriginalStatusCode and
# OriginalMessage (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
REFUSED = {
    "Error": {"Code": "ModelError", "Message": "Received client error (400)"},
    "OriginalStatusCode": 400,
    "OriginalMessage": json.dumps({"error": {"code": "bad_request", "message": "8 values expected"}}),
}


def _variant(**overrides: Any) -> dict[str, Any]:
    return {
        "VariantName": "primary",
        "CurrentWeight": 1.0,
        "DesiredWeight": 1.0,
        "CurrentInstanceCount": 1,
        "DesiredInstanceCount": 1,
        **overrides,
    }


def _endpoint(**overrides: Any) -> dict[str, Any]:
    return {
        "EndpointStatus": "InService",
        "EndpointConfigName": "cfg-b",
        "ProductionVariants": [_variant()],
        **overrides,
    }


def _client_error(code: str, operation: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class SageMaker:
    def __init__(self, endpoint: dict[str, Any] | Exception, configured: list[str] | Exception | None = None):
        self.endpoint, self.configured = endpoint, ["primary"] if configured is None else configured

    def describe_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs == {"EndpointName": "ep"}
        if isinstance(self.endpoint, Exception):
            raise self.endpoint
        return self.endpoint

    def describe_endpoint_config(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs == {"EndpointConfigName": "cfg-b"}
        if isinstance(self.configured, Exception):
            raise self.configured
        return {"ProductionVariants": [{"VariantName": name} for name in self.configured]}


class Runtime:
    """Answers every probe with `answer` and refuses the bad one (four values where two are expected)."""

    def __init__(self, answer: Any = GOOD, refusal: Any = REFUSED, fail: Exception | None = None):
        self.answer, self.refusal, self.fail = answer, refusal, fail
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.fail is not None:
            raise self.fail
        if b'[5.0, "x", 0]' in kwargs["Body"] and isinstance(self.refusal, dict):
            raise ClientError(self.refusal, "InvokeEndpoint")
        body = self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode()
        return {"Body": io.BytesIO(body)}


def run(
    sagemaker: SageMaker | None = None, runtime: Runtime | None = None, **overrides: Any
) -> verify.Report:
    arguments: dict[str, Any] = {
        "sagemaker": sagemaker or SageMaker(_endpoint()),
        "runtime": runtime or Runtime(),
        "endpoint_name": "ep",
        "expected_config": "cfg-b",
        "features": FEATURES,
        "rows": [[5.0, "x"]],
        **overrides,
    }
    return verify.verify(**arguments)


ENDPOINT_PASSED = [
    "endpoint ep is InService",
    "endpoint ep serves endpoint config cfg-b",
    "no deployment in progress",
    "production variants ['primary'] match the endpoint config",
    "one production variant",
    "variant primary exists",
    "variant primary takes traffic (weight 1.0)",
    "variant primary runs 1 instance(s) as desired",
]


# --- a healthy endpoint --------------------------------------------------------------------------------


def test_a_healthy_endpoint_passes_every_check_in_order() -> None:
    runtime = Runtime()
    report = run(runtime=runtime, expected_model_version="m-1")
    assert report.failures == [] and report.ok
    assert report.passed == [
        *ENDPOINT_PASSED,
        "JSON list rows: 200 with 1 prediction(s) from model m-1",
        "JSON object rows: 200 with 1 prediction(s) from model m-1",
        "CSV rows: 200 with 1 prediction(s) from model m-1",
        "bad payload (one value too many): refused with 400 bad_request",
    ]
    assert runtime.calls == [
        {"EndpointName": "ep", "ContentType": ct, "Accept": "application/json", "Body": body}
        for ct, body in (
            ("application/json", b'{"instances": [[5.0, "x"]]}'),
            ("application/json", b'{"instances": [{"a": 5.0, "c": "x"}]}'),
            ("text/csv", b"5.0,x"),
            ("application/json", b'{"instances": [[5.0, "x", 0]]}'),
        )
    ]


def test_a_chosen_variant_is_invoked_by_name() -> None:
    runtime = Runtime()
    report = run(runtime=runtime, variant="primary")
    assert report.ok
    assert "one production variant" not in report.passed
    assert {call["TargetVariant"] for call in runtime.calls} == {"primary"}


def test_a_serverless_variant_has_no_instance_count_to_check() -> None:
    serverless = _variant(CurrentServerlessConfig={"MemorySizeInMB": 2048}, CurrentInstanceCount=None)
    report = run(SageMaker(_endpoint(ProductionVariants=[serverless])))
    assert report.ok
    assert not any("instance(s)" in line for line in report.passed)


def test_a_missing_desired_weight_means_the_current_one() -> None:
    variant = _variant()
    del variant["DesiredWeight"]
    assert run(SageMaker(_endpoint(ProductionVariants=[variant]))).ok


def test_several_rows_give_several_predictions_per_probe() -> None:
    answer = {**GOOD, "predictions": [1, 0], "probabilities": [[0.25, 0.75], [1.0, 0.0]]}
    runtime = Runtime(answer)
    report = run(runtime=runtime, rows=[[5.0, "x"], [1, "y"]])
    assert "CSV rows: 200 with 2 prediction(s) from model m-1" in report.passed
    assert runtime.calls[2]["Body"] == b"5.0,x\n1,y"


# --- the endpoint checks stop at the first failing group -----------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "failure"),
    [
        (
            _endpoint(EndpointStatus="Failed", FailureReason="image not found"),
            "endpoint ep is Failed (FailureReason: image not found), expected InService",
        ),
        (_endpoint(EndpointStatus="Updating"), "endpoint ep is Updating, expected InService"),
        (
            _endpoint(EndpointConfigName="cfg-a"),
            "endpoint ep serves endpoint config 'cfg-a', expected 'cfg-b': the deployment was rolled back "
            "or never applied",
        ),
        (
            _endpoint(PendingDeploymentSummary={"EndpointConfigName": "cfg-c"}),
            "endpoint ep still has a deployment in progress (to 'cfg-c')",
        ),
    ],
)
def test_an_endpoint_not_serving_the_deployed_config_fails_before_any_invocation(
    endpoint: dict[str, Any], failure: str
) -> None:
    runtime = Runtime()
    report = run(SageMaker(endpoint), runtime)
    assert report.failures == [failure] and not report.ok
    assert runtime.calls == []


def test_an_endpoint_that_cannot_be_described_fails() -> None:
    error = _client_error("ValidationException", "DescribeEndpoint", "Could not find endpoint")
    report = run(SageMaker(error))
    assert report.failures == [
        "cannot describe endpoint 'ep': An error occurred (ValidationException) when calling the "
        "DescribeEndpoint operation: Could not find endpoint"
    ]
    assert report.passed == []


def test_an_endpoint_config_that_cannot_be_described_fails() -> None:
    error = _client_error("ValidationException", "DescribeEndpointConfig", "gone")
    report = run(SageMaker(_endpoint(), error))
    assert report.failures == [
        "cannot describe endpoint config 'cfg-b': An error occurred (ValidationException) when calling the "
        "DescribeEndpointConfig operation: gone"
    ]


def test_variants_that_differ_from_the_config_fail() -> None:
    report = run(SageMaker(_endpoint(), ["primary", "shadow"]))
    assert report.failures == [
        "production variants ['primary'] differ from endpoint config cfg-b's ['primary', 'shadow']"
    ]


def test_two_variants_need_a_choice() -> None:
    endpoint = _endpoint(ProductionVariants=[_variant(VariantName="b"), _variant(VariantName="a")])
    report = run(SageMaker(endpoint, ["a", "b"]))
    assert report.failures == ["endpoint has variants ['a', 'b']; choose one with --variant"]
    chosen = run(SageMaker(endpoint, ["a", "b"]), variant="b")
    assert chosen.ok and "variant b exists" in chosen.passed


def test_an_unknown_variant_fails() -> None:
    report = run(variant="canary")
    assert report.failures == ["variant 'canary' not found in ['primary']"]


@pytest.mark.parametrize(
    ("weights", "shown"),
    [
        ({"CurrentWeight": 0.0, "DesiredWeight": 0.0}, "current weight 0.0, desired 0.0"),
        ({"CurrentWeight": 0.5, "DesiredWeight": 1.0}, "current weight 0.5, desired 1.0"),
        ({"CurrentWeight": None, "DesiredWeight": 1.0}, "current weight None, desired 1.0"),
    ],
)
def test_a_variant_not_taking_its_traffic_fails(weights: dict[str, Any], shown: str) -> None:
    report = run(SageMaker(_endpoint(ProductionVariants=[_variant(**weights)])))
    assert report.failures == [f"variant primary has {shown}: it does not take traffic as configured"]


@pytest.mark.parametrize(("count", "desired"), [(0, 1), (1, 2), (None, 1), (0, 0)])
def test_a_variant_below_or_off_its_desired_instances_fails(count: int | None, desired: int) -> None:
    variant = _variant(CurrentInstanceCount=count, DesiredInstanceCount=desired)
    report = run(SageMaker(_endpoint(ProductionVariants=[variant])))
    assert report.failures == [f"variant primary runs {count} instance(s), desired {desired}"]


def test_weight_and_instance_failures_are_both_reported() -> None:
    variant = _variant(CurrentWeight=0.0, DesiredWeight=0.0, CurrentInstanceCount=0)
    report = run(SageMaker(_endpoint(ProductionVariants=[variant])))
    assert len(report.failures) == 2
    assert report.failures[1] == "variant primary runs 0 instance(s), desired 1"


# --- answers --------------------------------------------------------------------------------------------


def _answer_failure(answer: Any, expected_model_version: str | None = None) -> str:
    report = run(runtime=Runtime(answer), expected_model_version=expected_model_version)
    assert report.failures, "the answer should have failed"
    failure: str = report.failures[0]
    return failure


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"predictions": [1, 1]}, "expected 1 predictions, got [1, 1]"),
        ({"predictions": "1"}, "expected 1 predictions, got '1'"),
        (
            {"probabilities": [[0.25, 0.75]] * 2},
            "expected 1 probability rows, got [[0.25, 0.75], [0.25, 0.75]]",
        ),
        ({"probabilities": {"0": 1}}, "expected 1 probability rows, got {'0': 1}"),
        (
            {"probabilities": [[0.5, 0.6]]},
            "probabilities of row 0 [0.5, 0.6] do not sum to 1 over classes [0, 1]",
        ),
        ({"probabilities": [[1.0]]}, "probabilities of row 0 [1.0] do not sum to 1 over classes [0, 1]"),
        (
            {"probabilities": [[1.5, -0.5]]},
            "probabilities of row 0 [1.5, -0.5] do not sum to 1 over classes [0, 1]",
        ),
        (
            {"probabilities": [[-0.5, 1.5]]},
            "probabilities of row 0 [-0.5, 1.5] do not sum to 1 over classes [0, 1]",
        ),
        (
            {"probabilities": [["a", 1]]},
            "probabilities of row 0 ['a', 1] do not sum to 1 over classes [0, 1]",
        ),
        ({"probabilities": [0.5]}, "probabilities of row 0 0.5 do not sum to 1 over classes [0, 1]"),
        (
            {"probabilities": [[0.5, 0.501]]},
            "probabilities of row 0 [0.5, 0.501] do not sum to 1 over classes [0, 1]",
        ),
        ({"predictions": [2]}, "predictions [2] are not all among classes [0, 1]"),
        ({"model_version": ""}, "model_version missing or empty: ''"),
        ({"model_version": 3}, "model_version missing or empty: 3"),
    ],
)
def test_an_answer_breaking_the_contract_fails_with_its_problem(change: dict[str, Any], problem: str) -> None:
    assert _answer_failure({**GOOD, **change}) == f"JSON list rows: {problem}"


def test_probabilities_within_the_tolerance_sum_to_one() -> None:
    # 0.3 + 0.7 is 0.9999999999999999 in binary floating point; 1e-7 off is within verify's 1e-6.
    assert run(runtime=Runtime({**GOOD, "probabilities": [[0.3, 0.7]]})).ok
    assert run(runtime=Runtime({**GOOD, "probabilities": [[0.3, 0.7000001]]})).ok
    assert not run(runtime=Runtime({**GOOD, "probabilities": [[0.3, 0.70001]]})).ok


def test_only_the_first_bad_probability_row_is_reported() -> None:
    answer = {**GOOD, "predictions": [1, 1], "probabilities": [[0.9, 0.9], [0.8, 0.8]]}
    report = run(runtime=Runtime(answer), rows=[[5.0, "x"], [1, "y"]])
    assert report.failures[0] == (
        "JSON list rows: probabilities of row 0 [0.9, 0.9] do not sum to 1 over classes [0, 1]"
    )


def test_every_problem_of_an_answer_is_listed() -> None:
    failure = _answer_failure({**GOOD, "predictions": [7], "model_version": ""})
    assert failure == (
        "JSON list rows: predictions [7] are not all among classes [0, 1]; model_version missing or empty: ''"
    )


def test_an_unexpected_model_version_fails() -> None:
    assert _answer_failure(GOOD, "m-2") == "JSON list rows: model_version is 'm-1', expected 'm-2'"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<html>", "JSONDecodeError('Expecting value: line 1 column 1 (char 0)')"),
        (b"[1]", "TypeError('list indices must be integers or slices, not str')"),
        (
            json.dumps({**GOOD, "model_version": None} | {"x": 1}).replace('"classes"', '"k"').encode(),
            "KeyError('classes')",
        ),
    ],
)
def test_an_answer_that_is_not_the_contracts_json_fails(body: bytes, error: str) -> None:
    failure = _answer_failure(body)
    assert failure == f"JSON list rows: answer is not the contract's JSON ({error}): {body[:200]!r}"


def test_a_failed_invocation_is_reported_per_probe_and_skips_the_refusal_check() -> None:
    runtime = Runtime(fail=_client_error("ModelError", "InvokeEndpoint", "boom"))
    report = run(runtime=runtime)
    message = (
        "invocation failed: An error occurred (ModelError) when calling the InvokeEndpoint operation: boom"
    )
    assert report.failures == [
        f"{name}: {message}" for name in ("JSON list rows", "JSON object rows", "CSV rows")
    ]
    assert len(runtime.calls) == 3


def test_a_failed_answer_skips_the_refusal_check() -> None:
    runtime = Runtime({**GOOD, "predictions": []})
    run(runtime=runtime)
    assert len(runtime.calls) == 3


# --- the refusal ----------------------------------------------------------------------------------------


def test_a_bad_payload_answered_200_fails() -> None:
    report = run(runtime=Runtime(refusal=None))
    assert report.failures == [
        f"bad payload (one value too many): answered 200 instead of 400 ({json.dumps(GOOD).encode()!r}); "
        "validation is not running"
    ]


@pytest.mark.parametrize(
    "refusal",
    [
        {**REFUSED, "OriginalStatusCode": 500},
        {**REFUSED, "Error": {"Code": "ValidationError", "Message": "no"}},
        {**REFUSED, "OriginalMessage": "not json"},
        {**REFUSED, "OriginalMessage": json.dumps({"error": "bad"})},
        {**REFUSED, "OriginalMessage": json.dumps({"message": "bad"})},
    ],
)
def test_a_refusal_other_than_a_400_with_a_json_error_fails(refusal: dict[str, Any]) -> None:
    report = run(runtime=Runtime(refusal=refusal))
    assert report.failures == [
        "bad payload (one value too many): expected the container to answer 400 with a JSON error, got "
        f"{refusal['Error']['Code']} (original status {refusal['OriginalStatusCode']}): "
        f"{refusal['OriginalMessage'][:200]!r}"
    ]


def test_a_refusal_without_original_fields_fails() -> None:
    report = run(runtime=Runtime(refusal={"Error": {"Message": "x"}}))
    assert report.failures == [
        "bad payload (one value too many): expected the container to answer 400 with a JSON error, got None "
        "(original status None): ''"
    ]


# --- schema, payloads and the command line --------------------------------------------------------------


def test_the_sample_row_is_each_numeric_middle_and_each_first_category() -> None:
    features = [
        *FEATURES,
        {"name": "only_min", "type": "numeric", "min": 4},
        {"name": "bare", "type": "numeric"},
        {"name": "only_max", "type": "numeric", "max": 8},
    ]
    assert verify.sample_row(features) == [5.0, "x", 4.0, 0.0, 4.0]


def _write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ("{", "cannot read a JSON schema: Expecting property name enclosed in double quotes"),
        ([1], "expected an object with a non-empty 'features' list"),
        ({"features": []}, "expected an object with a non-empty 'features' list"),
        ({"features": {"a": 1}}, "expected an object with a non-empty 'features' list"),
        (
            {"features": [FEATURES[0], {"type": "numeric"}]},
            "feature 1 needs a 'name' and a numeric/categorical 'type'",
        ),
        ({"features": ["a"]}, "feature 0 needs a 'name' and a numeric/categorical 'type'"),
        (
            {"features": [{"name": "a", "type": "text"}]},
            "feature 0 needs a 'name' and a numeric/categorical 'type'",
        ),
        ({"features": [{"name": "c", "type": "categorical"}]}, "categorical feature 'c' has no categories"),
        (
            {"features": [{"name": "c", "type": "categorical", "categories": []}]},
            "categorical feature 'c' has no categories",
        ),
    ],
)
def test_a_bad_schema_is_a_usage_error_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], schema: Any, problem: str
) -> None:
    path = _write(tmp_path / "schema.json", schema)
    assert (
        verify.main(["--endpoint-name", "ep", "--expected-endpoint-config", "c", "--schema", str(path)]) == 2
    )
    assert capsys.readouterr().err.startswith(f"usage error: --schema {path}: {problem}")


def test_a_missing_schema_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(verify.UsageError, match=r"cannot read a JSON schema: .*No such file"):
        verify.load_schema(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("payloads", "problem"),
    [
        ("nope", "cannot read JSON: Expecting value"),
        ([[1, "x"]], 'expected {"instances": [[...], ...]} with at least one row'),
        ({"instances": []}, 'expected {"instances": [[...], ...]} with at least one row'),
        ({"rows": [[1, "x"]]}, 'expected {"instances": [[...], ...]} with at least one row'),
        ({"instances": [[1, "x"], [1]]}, "instance 1 must be a list of 2 values in schema order"),
        ({"instances": [{"a": 1, "c": "x"}]}, "instance 0 must be a list of 2 values in schema order"),
    ],
)
def test_bad_payloads_are_a_usage_error_naming_the_problem(
    tmp_path: Path, payloads: Any, problem: str
) -> None:
    path = _write(tmp_path / "payloads.json", payloads)
    with pytest.raises(verify.UsageError) as raised:
        verify.load_rows(path, FEATURES)
    assert str(raised.value).startswith(f"--payloads {path}: {problem}")


def test_a_missing_payloads_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(verify.UsageError, match=r"cannot read JSON: .*No such file"):
        verify.load_rows(tmp_path / "absent.json", FEATURES)


class Session:
    sagemaker: SageMaker = SageMaker(_endpoint())
    runtime: Runtime = Runtime()
    regions: ClassVar[list[str | None]] = []
    fail: Exception | None = None

    def __init__(self, region_name: str | None = None):
        self.regions.append(region_name)

    def client(self, name: str) -> Any:
        if self.fail is not None:
            raise self.fail
        return {"sagemaker": self.sagemaker, "sagemaker-runtime": self.runtime}[name]


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> type[Session]:
    import boto3

    class Fresh(Session):
        sagemaker = SageMaker(_endpoint())
        runtime = Runtime()
        regions: ClassVar[list[str | None]] = []

    monkeypatch.setattr(boto3.session, "Session", Fresh)
    return Fresh


def _cli(schema: Path, *extra: str) -> list[str]:
    return ["--endpoint-name", "ep", "--expected-endpoint-config", "cfg-b", "--schema", str(schema), *extra]


def test_the_cli_verifies_with_the_given_region_payloads_and_model_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], session: type[Session]
) -> None:
    schema = _write(tmp_path / "schema.json", {"features": FEATURES})
    payloads = _write(tmp_path / "payloads.json", {"instances": [[5.0, "x"]]})
    argv = _cli(
        schema, "--region", "eu-west-1", "--payloads", str(payloads), "--expected-model-version", "m-1"
    )
    assert verify.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok:   endpoint ep is InService"
    assert out[-2] == "ok:   bad payload (one value too many): refused with 400 bad_request"
    assert out[-1] == "ep: verified"
    assert session.regions == ["eu-west-1"]


def test_the_cli_uses_the_sample_row_and_the_only_variant_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], session: type[Session]
) -> None:
    schema = _write(tmp_path / "schema.json", {"features": FEATURES})
    assert verify.main(_cli(schema)) == 0
    assert session.runtime.calls[0]["Body"] == b'{"instances": [[5.0, "x"]]}'
    assert "TargetVariant" not in session.runtime.calls[0]
    assert session.regions == [None]


def test_the_cli_chooses_a_variant_and_checks_the_model_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], session: type[Session]
) -> None:
    schema = _write(tmp_path / "schema.json", {"features": FEATURES})
    assert verify.main(_cli(schema, "--variant", "primary", "--expected-model-version", "m-2")) == 1
    out = capsys.readouterr().out.splitlines()
    assert "FAIL: JSON list rows: model_version is 'm-1', expected 'm-2'" in out
    assert out[-1] == "ep: verification FAILED"
    assert session.runtime.calls[0]["TargetVariant"] == "primary"


def test_the_cli_reports_a_failed_check_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], session: type[Session]
) -> None:
    session.sagemaker = SageMaker(_endpoint(EndpointConfigName="cfg-a"))
    schema = _write(tmp_path / "schema.json", {"features": FEATURES})
    assert verify.main(_cli(schema)) == 1
    assert capsys.readouterr().out.splitlines() == [
        "ok:   endpoint ep is InService",
        "FAIL: endpoint ep serves endpoint config 'cfg-a', expected 'cfg-b': the deployment was rolled back or "
        "never applied",
        "ep: verification FAILED",
    ]


def test_the_cli_reports_an_unreachable_sagemaker_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], session: type[Session]
) -> None:
    session.fail = NoRegionError()  # boto3 without a region raises it when the client is made
    schema = _write(tmp_path / "schema.json", {"features": FEATURES})
    assert verify.main(_cli(schema)) == 1
    captured = capsys.readouterr()
    assert captured.err == "FAIL: cannot reach SageMaker: You must specify a region.\n"
    assert captured.out == ""


def test_the_cli_requires_the_endpoint_config_and_schema(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--endpoint-name", "ep", "--schema", "s"],
        ["--endpoint-name", "ep", "--expected-endpoint-config", "c"],
    ):
        with pytest.raises(SystemExit) as exited:
            verify.main(argv)
        assert exited.value.code == 2


# --- what a failed check stops, and edges of the answers (mutation testing found these unpinned) --------


@pytest.mark.parametrize(
    "variant",
    [
        _variant(CurrentWeight=0.0, DesiredWeight=0.0),  # no traffic, instances as desired
        _variant(CurrentInstanceCount=0),  # traffic as configured, no instance
    ],
)
def test_an_unhealthy_variant_is_never_invoked(variant: dict[str, Any]) -> None:
    runtime = Runtime()
    report = run(SageMaker(_endpoint(ProductionVariants=[variant])), runtime)
    assert len(report.failures) == 1
    assert runtime.calls == []


def test_an_endpoint_or_config_listing_no_variants_fails_without_invoking() -> None:
    # DescribeEndpoint and DescribeEndpointConfig may omit ProductionVariants: the API reference marks the
    # member "Required: No" (API_DescribeEndpoint.html, API_DescribeEndpointConfig.html).
    endpoint = _endpoint()
    del endpoint["ProductionVariants"]
    runtime = Runtime()
    report = run(SageMaker(endpoint), runtime)
    assert report.failures == ["production variants [] differ from endpoint config cfg-b's ['primary']"]

    class NoConfiguredVariants(SageMaker):
        def describe_endpoint_config(self, **kwargs: Any) -> dict[str, Any]:
            return {"EndpointConfigName": "cfg-b"}

    report = run(NoConfiguredVariants(_endpoint()), runtime)
    assert report.failures == ["production variants ['primary'] differ from endpoint config cfg-b's []"]
    assert runtime.calls == []


@pytest.mark.parametrize("row", [[1.5, -0.5], [1.0000004, 0.0]])
def test_probabilities_outside_zero_to_one_fail_even_when_they_sum_to_one(row: list[float]) -> None:
    # The second sums to 1 within the tolerance and is never negative: only the upper bound refuses it.
    failure = _answer_failure({**GOOD, "probabilities": [row]})
    assert failure == f"JSON list rows: probabilities of row 0 {row} do not sum to 1 over classes [0, 1]"


def test_a_long_answer_or_refusal_is_shown_cut_at_200_characters() -> None:
    body = b"x" * 300
    report = run(runtime=Runtime(answer=body))
    assert report.failures[0].endswith(f": {body[:200]!r}")
    refusal = {**REFUSED, "OriginalStatusCode": 500, "OriginalMessage": "y" * 300}
    report = run(runtime=Runtime(refusal=refusal))
    assert report.failures[0].endswith(f": {'y' * 200!r}")


def test_a_long_answer_to_the_bad_payload_is_shown_cut_at_200_characters() -> None:
    long_answer = {**GOOD, "model_version": "m" * 300}
    report = run(runtime=Runtime(answer=long_answer, refusal=None))
    shown = json.dumps(long_answer).encode()[:200]
    assert report.failures == [
        f"bad payload (one value too many): answered 200 instead of 400 ({shown!r}); validation is not running"
    ]


def test_a_refusal_without_an_error_member_fails_with_no_code() -> None:
    refusal = {key: value for key, value in REFUSED.items() if key != "Error"}
    report = run(runtime=Runtime(refusal=refusal))
    assert report.failures[0].startswith(
        "bad payload (one value too many): expected the container to answer 400 with a JSON error, got None "
        "(original status 400)"
    )


def test_rows_that_do_not_match_the_features_are_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="zip"):
        verify.probes(FEATURES, [[5.0]])
    with pytest.raises(ValueError, match="zip"):
        verify.probes(FEATURES, [[5.0, "x", 1]])


def test_schema_and_payload_files_are_read_as_json_text_whatever_the_locale(tmp_path: Path) -> None:
    # RFC 8259 section 8.1: JSON exchanged between systems is UTF-8; json.loads detects it from bytes.
    features = [{"name": "city", "type": "categorical", "categories": ["Zürich", "Köln"]}]
    schema = tmp_path / "schema.json"
    schema.write_bytes(json.dumps({"features": features}, ensure_ascii=False).encode("utf-8"))
    assert verify.load_schema(schema) == features
    payloads = tmp_path / "payloads.json"
    payloads.write_bytes('{"instances": [["Köln"]]}'.encode())
    assert verify.load_rows(payloads, features) == [["Köln"]]
    payloads.write_bytes('{"instances": [["Köln"]]}'.encode("latin-1"))
    with pytest.raises(verify.UsageError, match=r"--payloads .*payloads\.json: cannot read JSON"):
        verify.load_rows(payloads, features)


def test_the_cli_sends_the_payload_rows_not_the_sample_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], session: type[Session]
) -> None:
    schema = _write(tmp_path / "schema.json", {"features": FEATURES})
    payloads = _write(tmp_path / "payloads.json", {"instances": [[2.0, "y"]]})
    verify.main(_cli(schema, "--payloads", str(payloads)))
    assert session.runtime.calls[0]["Body"] == b'{"instances": [[2.0, "y"]]}'


def test_the_cli_requires_the_endpoint_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        verify.main(["--expected-endpoint-config", "c", "--schema", "s"])
    assert exited.value.code == 2
    assert "the following arguments are required: --endpoint-name" in capsys.readouterr().err


def test_the_cli_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        verify.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    paragraphs = [" ".join(block.split()) for block in out.split("\n\n")]
    assert paragraphs[1] == "Verify a deployed SageMaker endpoint (see module docstring)."
    text = " ".join(out.split())  # argparse wraps to the terminal's width
    for explained in (
        "--expected-endpoint-config EXPECTED_ENDPOINT_CONFIG the config pulumi up just deployed",
        "--schema SCHEMA schema.json of the deployed model",
        "--region REGION AWS region (default: the environment's)",
        "--variant VARIANT production variant to check and invoke (default: the only one)",
        '--payloads PAYLOADS JSON file {"instances": [[...], ...]} in schema order',
        "--expected-model-version EXPECTED_MODEL_VERSION fail unless answers carry this model_version",
    ):
        assert explained in text
