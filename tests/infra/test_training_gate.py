"""Issue 10 #8: serving is only ever created from a training job that Completed, with its model in S3."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from pulumi.dynamic.dynamic import serialize_provider

from infra import completed_job
from infra.completed_job import CompletedTrainingJobProvider, TrainingNotCompleted, verify_completed
from infra.config_schema import PROJECT_ROOT
from rehearsal import emulator
from tests.infra.conftest import recording_of
from tests.infra.harness import Recording

JOB_NAME = "sagestack-dev-0123456789ab"
ARTIFACT = f"s3://sagestack-dev-artifacts/models/training/{JOB_NAME}/output/model.tar.gz"
GATE = "pulumi-python:dynamic/sagestack:CompletedTrainingJob"


def describe(status: str, secondary: str, **extra: Any) -> dict[str, Any]:
    """A DescribeTrainingJob response; the Stubber checks it against botocore's SageMaker model."""
    return {
        "TrainingJobName": JOB_NAME,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{JOB_NAME}",
        "ModelArtifacts": {"S3ModelArtifacts": extra.pop("artifact", ARTIFACT)},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        **extra,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(service: str) -> Any:
    return emulator.client(service)  # moto's in-process mock (mock_aws around each test)


def run_gate(
    responses: list[dict[str, Any]], *, artifact_exists: bool | None, wait_seconds: float = 600
) -> Any:
    sagemaker, s3 = client("sagemaker"), client("s3")
    clock = Clock()
    with Stubber(sagemaker) as sm_stub, Stubber(s3) as s3_stub:
        for response in responses:
            sm_stub.add_response("describe_training_job", response, {"TrainingJobName": JOB_NAME})
        head = {"Bucket": "sagestack-dev-artifacts", "Key": ARTIFACT.split("/", 3)[3]}
        if artifact_exists is True:
            s3_stub.add_response("head_object", {"ContentLength": 1024}, head)
        elif artifact_exists is False:
            s3_stub.add_client_error("head_object", "404", "Not Found", 404, expected_params=head)
        result = verify_completed(
            sagemaker=sagemaker,
            s3=s3,
            job_name=JOB_NAME,
            expected_model_data_url=ARTIFACT,
            wait_seconds=wait_seconds,
            poll_seconds=30,
            sleep=clock.sleep,
            clock=lambda: clock.now,
        )
        sm_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()
    return result, clock


def test_a_completed_job_with_its_artifact_passes_after_waiting_for_it() -> None:
    result, clock = run_gate(
        [describe("InProgress", "Training"), describe("Completed", "Completed")], artifact_exists=True
    )
    assert (result.model_data_url, result.status) == (ARTIFACT, "Completed")
    assert clock.sleeps == [30]


# terraform-provider-aws internal/service/sagemaker/training_job.go waitTrainingJobCreated: Pending InProgress,
# Target Completed *and Stopped* - a job stopped at MaxRuntimeExceeded or MaxWaitTimeExceeded is a successful
# create; Failed ends the waiter with an unexpected-state error. DescribeTrainingJob statuses and secondary
# statuses: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html
@pytest.mark.parametrize(
    ("response", "artifact_exists", "message"),
    [
        (
            describe("Stopped", "MaxRuntimeExceeded"),
            None,
            r"ended Stopped \(MaxRuntimeExceeded\), not Completed",
        ),
        (describe("Stopped", "MaxWaitTimeExceeded"), None, r"ended Stopped \(MaxWaitTimeExceeded\)"),
        (
            describe("Failed", "Failed", FailureReason="AlgorithmError: DataContractError"),
            None,
            r"Failed: AlgorithmError: DataContractError; .*bump trainingRun",
        ),
        (describe("Completed", "Completed"), False, r"Completed, but its model artifact .* does not exist"),
        (
            describe("Completed", "Completed", artifact="s3://elsewhere/model.tar.gz"),
            None,
            r"model artifact is 's3://elsewhere/model.tar.gz'; expected",
        ),
    ],
    ids=["max-runtime", "spot-wait", "failed", "artifact-missing", "artifact-elsewhere"],
)
def test_anything_but_completed_with_its_artifact_fails_the_update(
    response: dict[str, Any], artifact_exists: bool | None, message: str
) -> None:
    with pytest.raises(TrainingNotCompleted, match=message) as caught:
        run_gate([response], artifact_exists=artifact_exists)
    assert JOB_NAME in str(caught.value)


def test_a_job_still_running_at_the_deadline_fails_and_says_so() -> None:
    with pytest.raises(TrainingNotCompleted, match=r"still InProgress \(Training\) after 60 s"):
        run_gate([describe("InProgress", "Training")] * 3, artifact_exists=None, wait_seconds=60)


# terraform-provider-aws training_job.go findTrainingJobByName: an unknown job is "Requested resource not found".
def test_a_job_that_does_not_exist_fails_and_other_errors_are_not_hidden() -> None:
    sagemaker = client("sagemaker")
    gate = dict(s3=client("s3"), job_name=JOB_NAME, expected_model_data_url=ARTIFACT, wait_seconds=0)
    with Stubber(sagemaker) as stub:
        stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
        with pytest.raises(TrainingNotCompleted, match="does not exist"):
            verify_completed(sagemaker=sagemaker, **gate)
        stub.add_client_error("describe_training_job", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(ClientError, match="AccessDeniedException"):
            verify_completed(sagemaker=sagemaker, **gate)


def test_a_new_job_is_checked_again_and_an_unchanged_one_is_left_alone() -> None:
    provider = CompletedTrainingJobProvider()
    olds = {"job_name": JOB_NAME, "model_data_url": ARTIFACT, "region": "us-east-1", "wait_seconds": 9000}
    assert provider.diff(JOB_NAME, {**olds, "__provider": "x"}, dict(olds)).changes is False
    renamed = provider.diff(JOB_NAME, olds, {**olds, "job_name": "sagestack-dev-ba9876543210"})
    assert renamed.changes is True and renamed.replaces == ["job_name"]
    assert not renamed.delete_before_replace  # dependents are never deleted ahead of the new check


def test_serving_and_monitoring_read_the_model_only_through_the_gate(recording: Recording) -> None:
    gate = recording.one(GATE)
    job = recording.one("aws:sagemaker/trainingJob:TrainingJob")
    assert gate.inputs["job_name"] == job.inputs["trainingJobName"]
    assert job.name in " ".join(gate.depends_on)
    gate_urn = next(urn for urn in _urns(recording) if urn.endswith(f"::{gate.name}"))
    readers = [
        r
        for r in recording.resources
        if r is not gate and gate.inputs["model_data_url"] in repr(r.inputs) and r.type != GATE
    ]
    assert readers, "nothing reads the model artifact"
    for reader in readers:
        assert gate_urn in reader.depends_on, f"{reader.type} {reader.name} reads the model without the gate"


def _urns(recording: Recording) -> set[str]:
    return {urn for r in recording.resources for urn in r.depends_on}


def test_the_provider_pickles_by_reference_and_loads_in_a_fresh_interpreter() -> None:
    """Pulumi stores the dynamic provider dill-pickled; its host unpickles it from the project directory."""
    serialized = serialize_provider(CompletedTrainingJobProvider())
    assert len(base64.b64decode(serialized)) < 2000  # a reference to the class, not a copy of boto3
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import base64, sys, dill; p = dill.loads(base64.b64decode(sys.stdin.read())); "
            "print(type(p).__module__, type(p).__name__, callable(p.create))",
        ],
        input=serialized,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
    )
    assert loaded.stdout.split() == [completed_job.__name__, "CompletedTrainingJobProvider", "True"]


def test_every_stack_registers_one_gate() -> None:
    for stack in ("dev", "prod"):
        assert len(recording_of(stack).of_type(GATE)) == 1
