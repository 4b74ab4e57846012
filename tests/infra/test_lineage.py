"""Lineage: what the registry, the stack's model tags, promote and served record, checked against AWS's API model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import regex

from infra import lineage, promote, retraining_pipeline
from tests.infra.aws_models import assert_valid_request, service_model
from tests.infra.conftest import recording_of
from tests.infra.harness import run_program
from tests.infra.test_training_stack import fixed_pipeline_inputs

JOB = "aws:sagemaker/trainingJob:TrainingJob"
MODEL = "aws:sagemaker/model:Model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# What a pipeline execution resolves the definition's references to.
RUNTIME = {
    "Steps.Train.TrainingJobName": "pipelines-x7k2q9f1z3m4-Train-a1b2c3d4e5",
    "Parameters.TrainDataUri": "s3://data/datasets/churn/v1/train/",
    "Parameters.ValidationDataUri": "s3://data/datasets/churn/v1/validation/",
    "Parameters.ModelApprovalStatus": "PendingManualApproval",
    "Execution.PipelineExecutionId": "x7k2q9f1z3m4",
    "Steps.Train.ModelArtifacts.S3ModelArtifacts": "s3://artifacts/models/training/job/output/model.tar.gz",
    "Steps.Train.FinalMetricDataList['validation:accuracy'].Value": 0.8125,
    "Steps.Train.FinalMetricDataList['validation:f1'].Value": 0.7012,
    "Steps.Train.FinalMetricDataList['validation:roc_auc'].Value": 0.8841,
}


def resolve(node: Any) -> Any:
    """A pipeline definition fragment as an execution resolves it: Get references and Std:Join."""
    if isinstance(node, dict):
        if set(node) == {"Get"}:
            return RUNTIME[node["Get"]]
        if set(node) == {"Std:Join"}:
            join = node["Std:Join"]
            return join["On"].join(str(resolve(v)) for v in join["Values"])
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value) for value in node]
    return node


def register_arguments(**overrides: Any) -> dict[str, Any]:
    definition = retraining_pipeline.pipeline_definition(fixed_pipeline_inputs(**overrides))
    [register] = definition["Steps"][1]["Arguments"]["IfSteps"]
    return dict(resolve(register["Arguments"]))


def botocore_pattern(shape: str) -> Any:
    """The shape's pattern from botocore's sagemaker service model, compiled with \\p{..} support."""
    return regex.compile(service_model("sagemaker").shape_for(shape).metadata["pattern"])


def valid_metadata_value(text: str) -> bool:
    # botocore sagemaker CustomerMetadataValue: min 1, max 256, pattern ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}
    shape = service_model("sagemaker").shape_for("CustomerMetadataValue").metadata
    return shape["min"] <= len(text) <= shape["max"] and bool(
        regex.fullmatch(r"[\p{L}\p{Z}\p{N}_.:\/=+\-@]*", text)
    )


def valid_tag_value(text: str) -> bool:
    # botocore sagemaker Tag.Value (TagValue): max 256, pattern ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)
    shape = service_model("sagemaker").shape_for("TagValue").metadata
    return len(text) <= shape["max"] and bool(botocore_pattern("TagValue").fullmatch(text))


def test_registered_candidates_carry_every_lineage_key_as_a_valid_create_model_package_request():
    arguments = register_arguments(git_commit=COMMIT)
    assert_valid_request("sagemaker", "CreateModelPackage", arguments)
    properties = arguments["CustomerMetadataProperties"]
    assert set(properties) == set(lineage.KEYS)
    for key, text in properties.items():
        assert valid_metadata_value(text), (key, text)
    assert properties["training_job"] == RUNTIME["Steps.Train.TrainingJobName"]
    assert properties["validation_metrics"] == (
        "validation:accuracy=0.8125 validation:f1=0.7012 validation:roc_auc=0.8841"
    )
    assert properties["code_sha256"] == fixed_pipeline_inputs().code_sha256
    assert arguments["MetadataProperties"] == {"CommitId": COMMIT}


def test_the_model_metrics_point_at_the_report_the_train_step_checkpoints():
    train = dict(
        resolve(retraining_pipeline.pipeline_definition(fixed_pipeline_inputs())["Steps"][0]["Arguments"])
    )
    checkpoint = train["CheckpointConfig"]["S3Uri"]
    statistics = register_arguments()["ModelMetrics"]["ModelQuality"]["Statistics"]
    # train.py writes evaluation.json at the root of the checkpoint directory (training/evaluation.py).
    assert statistics == {"ContentType": "application/json", "S3Uri": f"{checkpoint}/evaluation.json"}
    assert checkpoint == "s3://artifacts/models/evaluation/x7k2q9f1z3m4"
    assert_valid_request("sagemaker", "CreateTrainingJob", {**train, "TrainingJobName": "job"})


def test_without_a_known_commit_nothing_claims_one():
    arguments = register_arguments(git_commit=None)
    assert "git_commit" not in arguments["CustomerMetadataProperties"]
    assert "MetadataProperties" not in arguments


def test_promote_reads_every_fact_the_pipeline_records():
    arguments = register_arguments(git_commit=COMMIT)
    package = {
        **arguments,
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/sagestack-dev-models/3",
        "ModelApprovalStatus": "Approved",
        "CreationTime": datetime(2026, 11, 28, tzinfo=UTC),
    }
    facts = dict(promote.lineage(package))
    assert "(not recorded)" not in facts.values(), facts
    assert facts["git commit"] == COMMIT and facts["training job"] == RUNTIME["Steps.Train.TrainingJobName"]


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"C": 1.0, "estimator": "gradient_boosting"}),
        "s3://bucket/key with spaces,commas;and(semicolons)",
        "données d'entraînement ✓ 学习",
        "x" * 400,
    ],
)
def test_any_text_becomes_a_valid_value(text):
    cleaned = lineage.value(text)
    assert valid_metadata_value(cleaned) and valid_tag_value(cleaned), cleaned
    assert not valid_metadata_value(text) or cleaned == text


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"training_job": "job", "owner": "me"}, "lineage key 'owner': expected one of"),
        ({"data": ""}, "lineage data: '' is not 1-256"),
        ({"hyperparameters": '{"C": 1}'}, "lineage hyperparameters"),
        ({"image": "i" * 257}, "lineage image"),
    ],
)
def test_invalid_lineage_is_refused_naming_the_key(properties, message):
    with pytest.raises(ValueError, match=regex.escape(message)):
        lineage.check(properties)


def test_the_git_commit_comes_from_the_deploy_and_must_look_like_one():
    assert lineage.git_commit_from_environment({}) is None
    assert lineage.git_commit_from_environment({lineage.GIT_COMMIT_VARIABLE: COMMIT.upper()}) == COMMIT
    with pytest.raises(ValueError, match="SAGESTACK_GIT_COMMIT: expected a git commit hash"):
        lineage.git_commit_from_environment({lineage.GIT_COMMIT_VARIABLE: "main; rm -rf /"})


# terraform-provider-aws internal/service/sagemaker/model.go resourceModelUpdate: "Tags only" (updated in place),
# so a new git commit retags the model and job without replacing them; the model's name ignores its tags.
def test_the_stack_trained_model_and_its_job_carry_the_lineage_as_valid_tags():
    recording = recording_of("dev")
    job, model = recording.one(JOB).inputs, recording.one(MODEL).inputs
    tags = model["tags"]
    assert tags == job["tags"]
    assert set(tags) == set(lineage.KEYS) - {lineage.VALIDATION_METRICS, lineage.GIT_COMMIT}
    assert tags["training_job"] == job["trainingJobName"]
    assert tags["image"] == job["algorithmSpecification"]["trainingImage"]
    for key, text in tags.items():
        assert valid_tag_value(text), (key, text)
    # botocore sagemaker CreateModel Tags: at most 50, the provider's default tags included.
    limit = service_model("sagemaker").operation_model("CreateModel").input_shape.members["Tags"].metadata
    default_tags = recording.one("pulumi:providers:aws").inputs["defaultTags"]
    default_tags = json.loads(default_tags) if isinstance(default_tags, str) else default_tags
    assert default_tags["tags"] and len(tags) + len(default_tags["tags"]) <= limit["max"]


def test_a_pinned_stack_tags_no_model_with_a_lineage_it_did_not_produce():
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/sagestack-staging-models/3"
    # Another stack's package comes with its bucket and key (infra/settings_rules.py, package_artifacts).
    pin = {
        "approvedModelPackageArn": package,
        "modelArtifactsBucket": "sagestack-staging-artifacts-123456789012-us-east-1",
        "modelArtifactsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/staging-key",
    }
    model = run_program("dev", pin).one(MODEL).inputs
    assert not set(model.get("tags") or {}) & set(lineage.KEYS)


def test_a_deploy_with_a_known_commit_retags_without_renaming_the_model_or_the_job(monkeypatch):
    monkeypatch.setenv(lineage.GIT_COMMIT_VARIABLE, COMMIT)
    recording = run_program("dev")
    before = recording_of("dev")
    for kind, name in ((MODEL, "name"), (JOB, "trainingJobName")):
        assert recording.one(kind).inputs[name] == before.one(kind).inputs[name]
        assert recording.one(kind).inputs["tags"]["git_commit"] == COMMIT
    definition = json.loads(recording.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    register = definition["Steps"][1]["Arguments"]["IfSteps"][0]["Arguments"]
    assert register["MetadataProperties"] == {"CommitId": COMMIT}
