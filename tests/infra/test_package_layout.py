"""A registered package serves anywhere: its code travels in model.tar.gz, never in the producer's code/ prefix."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from infra import packaging
from infra.serving import IN_ARTIFACT_SUBMIT_DIRECTORY
from tests.infra.conftest import recording_of
from tests.infra.harness import run_program

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
MODEL = "aws:sagemaker/model:Model"
TRAINING_STACKS = ("dev", "staging", "prod")  # dev serves without network isolation, the others with it


def _registered_container(stack: str) -> dict[str, Any]:
    definition = json.loads(recording_of(stack).one(PIPELINE).inputs["pipelineDefinition"])
    steps = [*definition["Steps"]]
    for step in steps:  # the register step sits in the condition's IfSteps
        steps += step.get("Arguments", {}).get("IfSteps", [])
    register = next(step for step in steps if step["Type"] == "RegisterModel")
    [container] = register["Arguments"]["InferenceSpecification"]["Containers"]
    return dict(container)


# A consumer is granted GetObject on the producer's models/* only (infra/iam.py MODELS_PREFIX; model-registry-
# deploy-xaccount guide), and SageMaker unpacks ModelDataUrl's model.tar.gz into /opt/ml/model
# (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html, "How SageMaker Loads
# Your Model Artifacts"): so the package's code must be read from /opt/ml/model/code, whatever the producer.
@pytest.mark.parametrize("stack", TRAINING_STACKS)
def test_every_registered_package_reads_its_code_from_inside_the_model_artifact(stack: str) -> None:
    environment = _registered_container(stack)["Environment"]
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == IN_ARTIFACT_SUBMIT_DIRECTORY == "/opt/ml/model/code"
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    assert not [value for value in environment.values() if str(value).startswith("s3://")]


def test_a_stack_serving_without_isolation_still_trains_the_code_into_the_model(tmp_path: Path) -> None:
    # dev's endpoint reads its code from its own code/ prefix, but the packages its pipeline registers must
    # not: the training archive (the job's and the pipeline's) carries the serving code for train.py to copy.
    recording = recording_of("dev")
    keys = [
        o.inputs["key"]
        for o in recording.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if o.inputs["key"].startswith("code/training/")
    ]
    archive = packaging.build_training_archive(include_serving_code=True, build_dir=tmp_path)
    assert keys == [archive.key("code/training")]
    with tarfile.open(archive.path) as tar:
        assert "serving_code/inference.py" in tar.getnames()


def test_the_twin_a_plain_archive_would_not_carry_the_serving_code(tmp_path: Path) -> None:
    plain = packaging.build_training_archive(include_serving_code=False, build_dir=tmp_path)
    with tarfile.open(plain.path) as tar:
        assert "serving_code/inference.py" not in tar.getnames()
    assert plain.key("code/training") != packaging.build_training_archive(
        include_serving_code=True, build_dir=tmp_path / "with"
    ).key("code/training")


# CreateModel refuses a model environment beside a package's: "Environment variable map cannot be specified
# both at Model Package {} and Model {...}" (aws/sagemaker-python-sdk#3397, a ValidationException from the API).
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_pinned_model_sets_no_environment_of_its_own(stack: str) -> None:
    group = f"sagestack-{stack}-models"
    region = "us-east-1" if stack == "dev" else "eu-west-1"
    package = f"arn:aws:sagemaker:{region}:123456789012:model-package/{group}/3"
    container = run_program(stack, {"approvedModelPackageArn": package}).one(MODEL).inputs["primaryContainer"]
    assert container["modelPackageName"] == package
    assert not container.get("environment")
    # ... while the stack's own model does set one (the twin: the check can see an environment).
    assert recording_of(stack).one(MODEL).inputs["primaryContainer"]["environment"]
