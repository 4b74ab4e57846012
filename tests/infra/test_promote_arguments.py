"""`python -m infra.promote` refuses a malformed ARN or group before it calls AWS, and says what it expected.

A trailing newline (a copy from a terminal, `$(...)` of a file) once passed the `^...$` patterns; the pin it
wrote reached the stack file. No registry is needed to refuse: these run without moto or credentials.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import promote

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/sagestack-staging-models/3"
GROUP_ARN = "arn:aws:sagemaker:eu-west-1:111122223333:model-package-group/sagestack-staging-models"
KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PACKAGE_EXPECTED = "expected a versioned model package ARN (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"


class Untouchable:
    """A client that fails the test if promotion calls it at all."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"promotion called {name} on a client before refusing its arguments")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.prod.yaml").write_text((ROOT / "Pulumi.prod.yaml").read_text())
    return tmp_path


def run(project: Path, *argv: str, clients: bool = True) -> int:
    if clients:
        return promote.main(
            ["--stack", "prod", *argv], sagemaker=Untouchable(), root=project, s3=Untouchable()
        )
    return promote.main(["--stack", "prod", *argv], root=project)


@pytest.mark.parametrize(
    "arn",
    [
        PACKAGE + "\n",
        PACKAGE + " ",
        " " + PACKAGE,
        PACKAGE.removesuffix("/3"),
        PACKAGE.replace("sagestack-staging-models", "sagestack_staging"),
        PACKAGE.replace("arn:aws:", "arn:aws-foo:"),
        "",
    ],
)
@pytest.mark.parametrize("clients", [True, False], ids=["given-clients", "own-clients"])
def test_a_malformed_package_arn_is_refused_before_any_call(
    project: Path, capsys: pytest.CaptureFixture[str], arn: str, clients: bool
) -> None:
    before = (project / "Pulumi.prod.yaml").read_text()
    # Without clients of its own, promote derives the region from the ARN: a bad ARN is reported as such,
    # not as a missing --region.
    assert run(project, "--package-arn", arn, clients=clients) == 2
    assert capsys.readouterr().err == f"promote: --package-arn {arn!r}: {PACKAGE_EXPECTED}\n"
    assert (project / "Pulumi.prod.yaml").read_text() == before


@pytest.mark.parametrize(
    "group",
    [
        "sagestack-staging-models\n",
        " sagestack-staging-models",
        "sagestack_staging_models",  # SageMaker's EntityName (botocore sagemaker service-2.json) has no "_"
        "-models",
        "m" * 64,
        GROUP_ARN + "\n",
        GROUP_ARN.replace("eu-west-1", "eu-west"),
        GROUP_ARN + "/3",
    ],
)
def test_a_malformed_group_is_refused_before_any_call(
    project: Path, capsys: pytest.CaptureFixture[str], group: str
) -> None:
    assert run(project, f"--latest-approved-in={group}") == 2  # "=": a group may start with "-"
    assert capsys.readouterr().err == (
        f"promote: --latest-approved-in {group!r}: expected a model package group name or ARN\n"
    )


class Registry:
    """Lists one Approved version, as ListModelPackages answers (botocore sagemaker service-2.json)."""

    def __init__(self) -> None:
        self.groups: list[str] = []

    def get_paginator(self, operation: str) -> Registry:
        assert operation == "list_model_packages"
        return self

    def paginate(self, ModelPackageGroupName: str, **_: str) -> list[dict[str, Any]]:
        self.groups.append(ModelPackageGroupName)
        return [
            {"ModelPackageSummaryList": [{"ModelApprovalStatus": "Approved", "ModelPackageArn": PACKAGE}]}
        ]


@pytest.mark.parametrize("group", ["sagestack-staging-models", "a", "m" * 63, GROUP_ARN])
def test_a_group_name_or_arn_is_asked_for_as_given(group: str) -> None:
    registry = Registry()
    assert promote.latest_approved(registry, group) == PACKAGE
    assert registry.groups == [group]


class Bucket:
    """Answers HeadObject with the SSE-KMS key it was given (S3 API reference, HeadObject SSEKMSKeyId)."""

    def __init__(self, key_arn: str) -> None:
        self.key_arn = key_arn

    def head_object(self, Bucket: str, Key: str) -> dict[str, str]:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.key_arn}


PACKAGE_DESCRIPTION = {
    "ModelPackageArn": PACKAGE,
    "InferenceSpecification": {
        "Containers": [{"ModelDataUrl": "s3://art/models/sagestack-staging-abc/output/model.tar.gz"}]
    },
}


def test_the_models_key_arn_is_read_whole() -> None:
    assert promote.model_artifacts(Bucket(KEY), PACKAGE_DESCRIPTION) == ("art", KEY)


@pytest.mark.parametrize("key_arn", [KEY + "\n", " " + KEY, KEY.replace(":key/", ":alias/"), KEY + "/x"])
def test_a_models_key_that_is_no_whole_key_arn_is_refused(key_arn: str) -> None:
    with pytest.raises(promote.PromotionError) as refused:
        promote.model_artifacts(Bucket(key_arn), PACKAGE_DESCRIPTION)
    assert str(refused.value) == (
        f"s3://art/models/sagestack-staging-abc/output/model.tar.gz is encrypted with 'aws:kms' key {key_arn!r}: "
        "expected SSE-KMS with a key ARN (the producer stack's key)"
    )


def test_the_command_line_refuses_a_newline_suffixed_arn_and_leaves_the_stack_file(tmp_path: Path) -> None:
    stack_file = ROOT / "Pulumi.prod.yaml"
    before = stack_file.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "infra.promote", "--stack", "prod", "--package-arn", PACKAGE + "\n"],
        cwd=ROOT,
        env={
            **env,
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"promote: --package-arn {PACKAGE + chr(10)!r}: {PACKAGE_EXPECTED}\n"
    assert stack_file.read_bytes() == before
