"""`python -m infra.served`: the endpoint's current model, its lineage, approval, evaluation and baseline (moto)."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import boto3
import numpy as np
import pytest

from infra import served
from infra.config_schema import load_stack_config
from tests.infra.conftest import recording_of
from tests.infra.test_lineage import COMMIT, RUNTIME, register_arguments
from training import evaluation

REGION = "us-east-1"
ENDPOINT = "sagestack-dev-endpoint"
BUCKET = "artifacts"
ROLE = "arn:aws:iam::123456789012:role/sagestack-dev-sagemaker-execution"


def report_document() -> dict[str, Any]:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 300)
    probabilities = np.clip(labels * 0.5 + rng.normal(0.25, 0.2, 300), 0, 1)
    return evaluation.evaluation_report(labels, (probabilities >= 0.5).astype(int), probabilities)


def model_tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def aws() -> Any:
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        yield boto3.client("sagemaker", region_name=REGION), s3


def point_endpoint(
    sm: Any, model: str, container: dict[str, Any], tags: list[dict[str, str]] | None = None
) -> None:
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer=container, Tags=tags or [])
    sm.create_endpoint_config(
        EndpointConfigName=f"{model}-config",
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": model,
                "InstanceType": "ml.t2.medium",
                "InitialInstanceCount": 1,
            }
        ],
    )
    if sm.list_endpoints()["Endpoints"]:
        sm.delete_endpoint(EndpointName=ENDPOINT)  # moto has no UpdateEndpoint
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{model}-config")


def register(sm: Any, s3: Any, *, with_report: bool = True) -> str:
    arguments = register_arguments(git_commit=COMMIT)
    sm.create_model_package_group(ModelPackageGroupName=arguments["ModelPackageGroupName"])
    arguments["ModelApprovalStatus"] = "Approved"
    for unsupported in ("SupportedRealtimeInferenceInstanceTypes", "SupportedTransformInstanceTypes"):
        arguments["InferenceSpecification"].pop(unsupported)
    if with_report:
        uri = arguments["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
        s3.put_object(Bucket=BUCKET, Key=uri.split("/", 3)[3], Body=json.dumps(report_document()).encode())
    return str(sm.create_model_package(**arguments)["ModelPackageArn"])


def test_a_promoted_package_shows_its_arn_lineage_approval_evaluation_and_baseline(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sm, s3 = aws
    arn = register(sm, s3)
    point_endpoint(
        sm,
        "sagestack-dev-model-pkg",
        {"ModelPackageName": arn, "Environment": {"SAGESTACK_MODEL_VERSION": arn}},
    )
    assert served.main(["--endpoint", ENDPOINT, "--region", REGION], sagemaker=sm, s3=s3) == 0
    screen = capsys.readouterr().out
    assert f"model version      {arn}" in screen
    assert "approved           Approved" in screen
    assert "(not recorded)" not in screen and "unreadable" not in screen
    for fact in (RUNTIME["Steps.Train.TrainingJobName"], COMMIT, "validation:roc_auc=0.8841", "estimator="):
        assert str(fact) in screen
    auc = report_document()["binary_classification_metrics"]["auc"]["value"]
    assert f"auc {auc:.4f} ± " in screen and "on 300 validation rows" in screen
    assert f"drift baseline     {RUNTIME['Steps.Train.ModelArtifacts.S3ModelArtifacts']}" in screen
    assert len(screen.splitlines()) <= 24  # one screen


def test_a_stack_trained_model_shows_its_tags_and_the_report_inside_its_artifact(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sm, s3 = aws
    url = f"s3://{BUCKET}/models/training/sagestack-dev-0123abcd/output/model.tar.gz"
    report = report_document()
    s3.put_object(
        Bucket=BUCKET,
        Key=url.split("/", 3)[3],
        Body=model_tarball({"evaluation.json": json.dumps(report).encode()}),
    )
    tags = [
        {"Key": "training_job", "Value": "sagestack-dev-0123abcd"},
        {"Key": "code_sha256", "Value": "ab" * 32},
    ]
    point_endpoint(
        sm,
        "sagestack-dev-model-job",
        {
            "Image": "img",
            "ModelDataUrl": url,
            "Environment": {"SAGESTACK_MODEL_VERSION": "sagestack-dev-0123abcd"},
        },
        tags,
    )
    report_ = served.describe_served(sm, s3, ENDPOINT, "primary")
    facts = dict(report_.facts)
    assert report_.served.version == "sagestack-dev-0123abcd"
    assert facts["code archive"] == "ab" * 32
    assert facts["approved"].startswith("not registered")
    # No such job on moto: the validation fact says it could not be read, the rest is still shown.
    assert facts["validation"].startswith("(unreadable")
    assert facts["git commit"] == "(not recorded)"
    assert report_.evaluation == report
    assert served.main(["--endpoint", ENDPOINT, "--region", REGION], sagemaker=sm, s3=s3) == 0
    assert "sagestack-dev-0123abcd" in capsys.readouterr().out


def test_a_missing_report_or_an_artifact_without_one_is_said_not_raised(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sm, s3 = aws
    arn = register(sm, s3, with_report=False)
    point_endpoint(sm, "sagestack-dev-model-pkg", {"ModelPackageName": arn})
    assert "(unreadable: NoSuchKey" in served.render(served.describe_served(sm, s3, ENDPOINT, "primary"))
    old = f"s3://{BUCKET}/models/training/old/output/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=old.split("/", 3)[3], Body=model_tarball({"model.joblib": b"x"}))
    point_endpoint(sm, "sagestack-dev-model-old", {"Image": "img", "ModelDataUrl": old})
    screen = served.render(served.describe_served(sm, s3, ENDPOINT, "primary"))
    assert "has no evaluation.json (trained before lineage was recorded)" in screen
    assert "training job       (not recorded)" in screen


def test_an_absent_endpoint_or_stack_exits_2_naming_it(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sm, s3 = aws
    assert served.main(["--endpoint", "nope", "--region", REGION], sagemaker=sm, s3=s3) == 2
    assert "served: " in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        served.main(["--stack", "no-such-stack"], sagemaker=sm, s3=s3)
    assert exited.value.code == 2
    assert "Pulumi.no-such-stack.yaml" in capsys.readouterr().err


def test_the_stack_names_its_endpoint_and_region() -> None:
    declared = recording_of("dev").one("aws:sagemaker/endpoint:Endpoint").inputs["name"]
    assert served._endpoint_of("dev") == (declared, load_stack_config("dev").region)
