"""The gate between training and serving: a model is only ever served from a job that Completed.

The provider's TrainingJob create waits for Completed *or Stopped* and its resource has no status or
model-artifact attribute, so a job stopped at its max runtime or spot wait reaches `pulumi up` as a
success, with no model.tar.gz. `CompletedTrainingJob` is a dynamic resource: its create asks SageMaker
(DescribeTrainingJob) for the job's status, waits while it is still running, and fails the update unless
the job Completed and its model artifact exists in S3 (HeadObject). Serving takes `model_data_url` from
it, so nothing downstream is created from a job that did not complete, whatever the provider's waiter does.

This module runs inside Pulumi's dynamic-provider host as well as in the program: keep it to the standard
library, boto3 and pulumi, and import nothing from the rest of infra/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

POLL_SECONDS = 30
# States from which a job still moves on by itself (DescribeTrainingJob TrainingJobStatus).
RUNNING_STATES = ("InProgress", "Stopping")


class TrainingNotCompleted(RuntimeError):
    """The job did not complete, or its model artifact is missing: nothing may be served from it."""


@dataclass(frozen=True)
class CompletedJob:
    job_name: str
    model_data_url: str
    status: str


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise TrainingNotCompleted(f"model artifact {uri!r} is not an s3://<bucket>/<key> URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def verify_completed(
    *,
    sagemaker: Any,
    s3: Any,
    job_name: str,
    expected_model_data_url: str,
    wait_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CompletedJob:
    """Wait (at most ``wait_seconds``) for the job to end; succeed only on Completed with its artifact in S3."""
    deadline = clock() + wait_seconds
    while True:
        try:
            job = sagemaker.describe_training_job(TrainingJobName=job_name)
        except Exception as error:
            # SageMaker answers an unknown job with ValidationException "Requested resource not found".
            code = _error_code(error)
            if code == "ResourceNotFound" or (code == "ValidationException" and "not found" in str(error)):
                raise TrainingNotCompleted(f"training job {job_name} does not exist: {error}") from error
            raise
        status = job["TrainingJobStatus"]
        if status not in RUNNING_STATES:
            break
        if clock() >= deadline:
            raise TrainingNotCompleted(
                f"training job {job_name} is still {status} ({job.get('SecondaryStatus', '?')}) after "
                f"{wait_seconds:.0f} s; nothing is served from it. Run `pulumi up` again once it has ended."
            )
        sleep(poll_seconds)

    secondary = job.get("SecondaryStatus", "?")
    if status == "Failed":
        raise TrainingNotCompleted(
            f"training job {job_name} Failed: {job.get('FailureReason', 'no reason given')}; "
            "fix the cause, then bump trainingRun (SageMaker never reuses a job name)"
        )
    if status != "Completed":
        # Stopped: max runtime or spot wait exceeded, or stopped by hand; its artifact may be partial.
        raise TrainingNotCompleted(
            f"training job {job_name} ended {status} ({secondary}), not Completed; its model is not served. "
            "Raise trainingMaxRuntimeSeconds / spotMaxWaitSeconds or bump trainingRun, then `pulumi up`"
        )
    artifact = job.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    if artifact != expected_model_data_url:
        raise TrainingNotCompleted(
            f"training job {job_name} Completed, but its model artifact is {artifact or 'missing'!r}; "
            f"expected {expected_model_data_url!r}"
        )
    bucket, key = _split_s3(artifact)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as error:
        if _error_code(error) in ("404", "NoSuchKey", "NotFound"):
            raise TrainingNotCompleted(
                f"training job {job_name} Completed, but its model artifact {artifact} does not exist"
            ) from error
        raise
    return CompletedJob(job_name=job_name, model_data_url=artifact, status=status)


# Inputs of the dynamic resource; a change of any of them checks a (different) job again.
INPUT_KEYS = ("job_name", "model_data_url", "region", "wait_seconds")


class CompletedTrainingJobProvider(pulumi.dynamic.ResourceProvider):
    """Create = verify. There is nothing to update or delete: the resource only records a verified job."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        import boto3

        region = props["region"]
        verified = verify_completed(
            sagemaker=boto3.client("sagemaker", region_name=region),
            s3=boto3.client("s3", region_name=region),
            job_name=props["job_name"],
            expected_model_data_url=props["model_data_url"],
            wait_seconds=float(props["wait_seconds"]),
        )
        outs = {key: props[key] for key in INPUT_KEYS}
        outs.update(model_data_url=verified.model_data_url, training_job_status=verified.status)
        return pulumi.dynamic.CreateResult(id_=verified.job_name, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        # Another job is another check: replace (create-before-delete; the id is the job name, so they never clash).
        changed = [key for key in INPUT_KEYS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(changed), replaces=changed)


@dataclass(frozen=True)
class CompletedTrainingJobArgs:
    job_name: pulumi.Input[str]
    model_data_url: pulumi.Input[str]
    region: str
    wait_seconds: int


class CompletedTrainingJob(pulumi.dynamic.Resource, module="sagestack", name="CompletedTrainingJob"):
    """A training job SageMaker reports Completed, with its model artifact in S3."""

    model_data_url: pulumi.Output[str]
    training_job_status: pulumi.Output[str]

    def __init__(self, name: str, args: CompletedTrainingJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            CompletedTrainingJobProvider(),
            name,
            {
                "job_name": args.job_name,
                "model_data_url": args.model_data_url,
                "region": args.region,
                "wait_seconds": args.wait_seconds,
                "training_job_status": None,
            },
            opts,
        )
