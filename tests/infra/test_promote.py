"""Promotion: the pin and its lineage land in the stack file; only Approved packages are pinned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from infra import promote
from infra.config_schema import load_stack_config
from infra.settings import settings_from_values

GROUP = "sagestack-staging-models"
REGION = "eu-west-1"
BUCKET = "art"
IMAGE = "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


@pytest.fixture
def registry() -> Any:
    from moto import mock_aws

    with mock_aws():
        sm = boto3.client("sagemaker", region_name=REGION)
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
        boto3.client("kms", region_name=REGION).create_key(Description="the producer stack's key")
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield sm


@pytest.fixture
def s3(registry: Any) -> Any:
    return boto3.client("s3", region_name=REGION)


def producer_key_arn() -> str:
    kms = boto3.client("kms", region_name=REGION)
    return str(kms.describe_key(KeyId=kms.list_keys()["Keys"][0]["KeyId"])["KeyMetadata"]["Arn"])


def store_model(key: str, *, encrypted: bool = True) -> None:
    encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": producer_key_arn()} if encrypted else {}
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=b"model", **encryption)


def register(
    sm: Any,
    status: str,
    job: str = "sagestack-staging-abc",
    *,
    prefix: str = "models",
    encrypted: bool = True,
) -> str:
    store_model(f"{prefix}/{job}/output/model.tar.gz", encrypted=encrypted)
    return str(
        sm.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{prefix}/{job}/output/model.tar.gz"}
                ],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            CustomerMetadataProperties={"training_job": job, "data": "s3://data/datasets/churn/v1"},
            MetadataProperties={"CommitId": "0123abcd"},
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": f"s3://art/models/{job}/evaluation.json",
                    }
                }
            },
        )["ModelPackageArn"]
    )


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.prod.yaml").write_text((ROOT / "Pulumi.prod.yaml").read_text())
    return tmp_path


def test_an_approved_package_is_pinned_with_its_lineage(registry: Any, s3: Any, project: Path) -> None:
    arn = register(registry, "Approved")
    assert (
        promote.main(["--stack", "prod", "--package-arn", arn], sagemaker=registry, root=project, s3=s3) == 0
    )
    text = (project / "Pulumi.prod.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    assert config["sagestack:approvedModelPackageArn"] == arn
    assert config["sagestack:endpointInstanceCount"] == 4  # the rest of the file is kept
    assert "#   training job: sagestack-staging-abc" in text
    assert "#   git commit: 0123abcd" in text
    assert "evaluation.json" in text


def test_the_pinned_file_is_a_valid_stack_for_settings(registry: Any, s3: Any, project: Path) -> None:
    arn = register(registry, "Approved")
    promote.main(["--stack", "prod", "--package-arn", arn], sagemaker=registry, root=project, s3=s3)
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    config = load_stack_config("prod", root=project)
    serving = settings_from_values("prod", config.region, config.values).serving
    assert serving.approved_model_package_arn == arn
    # Another stack's package: its bucket and key came along, so prod's roles may read the model.
    assert serving.package_artifacts is not None
    assert (serving.package_artifacts.bucket, serving.package_artifacts.key_arn) == (
        BUCKET,
        producer_key_arn(),
    )


def test_the_models_bucket_and_key_are_written_beside_the_pin(registry: Any, s3: Any, project: Path) -> None:
    first, second = register(registry, "Approved", "job-1"), register(registry, "Approved", "job-2")
    for arn in (first, second):
        assert (
            promote.main(["--stack", "prod", "--package-arn", arn], sagemaker=registry, root=project, s3=s3)
            == 0
        )
    text = (project / "Pulumi.prod.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    assert config[promote.BUCKET_KEY] == BUCKET
    assert config[promote.KEY_ARN_KEY] == producer_key_arn()
    assert text.count(promote.BUCKET_KEY) == 1 and text.count(promote.KEY_ARN_KEY) == 1


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"encrypted": False}, "expected SSE-KMS with a key ARN"),
        ({"prefix": "exports"}, "is not under s3://<bucket>/models/"),
    ],
)
def test_a_model_the_producer_does_not_share_is_refused(
    registry: Any,
    s3: Any,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    where: dict[str, Any],
    message: str,
) -> None:
    before = (project / "Pulumi.prod.yaml").read_text()
    arn = register(registry, "Approved", **where)
    assert (
        promote.main(["--stack", "prod", "--package-arn", arn], sagemaker=registry, root=project, s3=s3) == 2
    )
    assert message in capsys.readouterr().err
    assert (project / "Pulumi.prod.yaml").read_text() == before


def test_promoting_again_replaces_the_pin_and_its_lineage(registry: Any, s3: Any, project: Path) -> None:
    first, second = register(registry, "Approved", "job-1"), register(registry, "Approved", "job-2")
    promote.main(["--stack", "prod", "--package-arn", first], sagemaker=registry, root=project, s3=s3)
    promote.main(["--stack", "prod", "--package-arn", second], sagemaker=registry, root=project, s3=s3)
    text = (project / "Pulumi.prod.yaml").read_text()
    assert text.count(promote.PIN_KEY) == 1 and text.count(promote.LINEAGE_MARK) == 1
    assert "job-1" not in text and "job-2" in text


def test_the_latest_approved_version_skips_unapproved_newer_ones(
    registry: Any, s3: Any, project: Path
) -> None:
    approved = register(registry, "Approved", "job-1")
    register(registry, "PendingManualApproval", "job-2")
    register(registry, "Rejected", "job-3")
    code = promote.main(
        ["--stack", "prod", "--latest-approved-in", GROUP], sagemaker=registry, root=project, s3=s3
    )
    assert code == 0
    assert yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"][promote.PIN_KEY] == approved


def test_an_unapproved_package_is_refused_and_the_file_untouched(
    registry: Any, s3: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / "Pulumi.prod.yaml").read_text()
    arn = register(registry, "PendingManualApproval")
    assert (
        promote.main(["--stack", "prod", "--package-arn", arn], sagemaker=registry, root=project, s3=s3) == 2
    )
    assert "PendingManualApproval, not Approved" in capsys.readouterr().err
    assert (project / "Pulumi.prod.yaml").read_text() == before


def test_malformed_arguments_name_what_was_expected(
    registry: Any, s3: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        promote.main(["--stack", "prod", "--package-arn", "model-7"], sagemaker=registry, root=project, s3=s3)
        == 2
    )
    assert "expected a versioned model package ARN" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        promote.main(["--stack", "nope", "--package-arn", "x"], sagemaker=registry, root=project, s3=s3)
    assert (
        promote.main(
            ["--stack", "prod", "--latest-approved-in", "empty"], sagemaker=_empty(registry), root=project
        )
        == 2
    )


def _empty(sm: Any) -> Any:
    sm.create_model_package_group(ModelPackageGroupName="empty")
    return sm
