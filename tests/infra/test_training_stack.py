"""The TrainingJob, registry and retraining pipeline as the program declares them for every stack."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from infra import retraining_pipeline, training_job
from infra.config_schema import load_stack_config, project_config_schema, to_config_string
from infra.settings import SettingsError, settings_from_values
from infra.settings_types import Hyperparameters, TrainingSettings
from tests.infra.conftest import recording_of
from tests.infra.harness import Recording, run_program
from training import contract

JOB = "aws:sagemaker/trainingJob:TrainingJob"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
SNAPSHOT = Path(__file__).parent / "snapshots" / "pipeline_definition.json"


def settings_of(stack: str, **overrides: str):
    config = load_stack_config(stack)
    return settings_from_values(stack, config.region, {**config.values, **overrides})


def test_training_job_is_encrypted_stopped_and_uses_the_prebuilt_image(recording: Recording) -> None:
    job = recording.one(JOB).inputs
    s = settings_of(recording.stack).training
    assert job["algorithmSpecification"]["trainingImage"].endswith(
        f".amazonaws.com/sagemaker-scikit-learn:{s.framework_version}-cpu-py3"
    )
    prebuilt = [c for token, c in recording.calls if token.endswith("getPrebuiltEcrImage")]
    assert {
        "repositoryName": "sagemaker-scikit-learn",
        "imageTag": f"{s.framework_version}-cpu-py3",
    }.items() <= prebuilt[0].items()
    key = recording.one("aws:kms/key:Key")
    assert job["outputDataConfig"]["kmsKeyId"] == job["resourceConfig"]["volumeKmsKeyId"] != ""
    assert (
        job["outputDataConfig"]["kmsKeyId"].startswith("arn:aws:kms:")
        and key.name in job["outputDataConfig"]["kmsKeyId"]
    )
    assert job["stoppingCondition"]["maxRuntimeInSeconds"] == s.max_runtime_seconds
    assert job["enableManagedSpotTraining"] is s.spot
    if s.spot:
        assert job["stoppingCondition"]["maxWaitTimeInSeconds"] >= s.max_runtime_seconds
    assert [(m["name"], m["regex"]) for m in job["algorithmSpecification"]["metricDefinitions"]] == [
        (d["Name"], d["Regex"]) for d in contract.metric_definitions()
    ]


def test_code_package_and_channels(recording: Recording) -> None:
    job = recording.one(JOB).inputs
    s = settings_of(recording.stack).training
    hyper = job["hyperParameters"]
    assert hyper["sagemaker_program"] == "train.py"
    channels = {c["channelName"]: c["dataSource"]["s3DataSource"]["s3Uri"] for c in job["inputDataConfigs"]}
    data_bucket = recording.outputs["data_bucket"]
    assert channels["train"] == f"s3://{data_bucket}/{s.data_prefix}/{s.data_version}/train/"
    assert channels["validation"] == f"s3://{data_bucket}/{s.data_prefix}/{s.data_version}/validation/"
    code_objects = [
        o.inputs["key"]
        for o in recording.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if o.inputs["key"].startswith("code/training/")
    ]
    # The content address is the folder; the object keeps the archive's own name.
    assert len(code_objects) == 1 and re.fullmatch(
        r"code/training/[0-9a-f]{16}/sourcedir\.tar\.gz", code_objects[0]
    )
    if s.network_isolation:
        assert job["enableNetworkIsolation"] is True
        assert channels["code"] == f"s3://{recording.outputs['artifacts_bucket']}/{code_objects[0]}"
    else:
        assert "code" not in channels and hyper["sagemaker_submit_directory"].endswith(code_objects[0])


# SageMaker stages S3Prefix channel <name> under /opt/ml/input/data/<name>, a prefix that is one object's key under
# the object's file name (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html;
# aws/sagemaker-python-sdk src/sagemaker/utils.py download_folder), and the SDK's own isolated code channel
# is <prefix>/sourcedir.tar.gz with sagemaker_submit_directory /opt/ml/input/data/code/sourcedir.tar.gz
# (aws/sagemaker-python-sdk src/sagemaker/estimator.py CONTAINER_CODE_CHANNEL_SOURCEDIR_PATH).
SDK_ISOLATED_SUBMIT_DIRECTORY = "/opt/ml/input/data/code/sourcedir.tar.gz"


def staged_code_files(channels: list[dict[str, Any]], code_key_of_bucket: dict[str, list[str]]) -> list[str]:
    """Container paths of the code channel's objects, given the keys each bucket holds."""
    code = next(c for c in channels if c["ChannelName"] == "code")
    bucket, prefix = contract.split_s3_uri(code["DataSource"]["S3DataSource"]["S3Uri"])
    staged = contract.staged_paths(prefix, code_key_of_bucket.get(bucket, []))
    return [f"/opt/ml/input/data/code/{relative}" for relative in staged.values()]


def test_isolated_jobs_find_their_code_where_sagemaker_stages_it(recording: Recording) -> None:
    job = recording.one(JOB).inputs
    if not job["enableNetworkIsolation"]:
        pytest.skip("this stack's training job is not network-isolated")
    objects: dict[str, list[str]] = {}
    for o in recording.of_type("aws:s3/bucketObjectv2:BucketObjectv2"):
        objects.setdefault(o.inputs["bucket"], []).append(o.inputs["key"])
    declared = [
        {
            "ChannelName": c["channelName"],
            "DataSource": {"S3DataSource": {"S3Uri": c["dataSource"]["s3DataSource"]["s3Uri"]}},
        }
        for c in job["inputDataConfigs"]
    ]
    submit = job["hyperParameters"]["sagemaker_submit_directory"]
    assert submit == SDK_ISOLATED_SUBMIT_DIRECTORY
    assert staged_code_files(declared, objects) == [submit]
    definition = json.loads(recording.one(PIPELINE).inputs["pipelineDefinition"])
    train = definition["Steps"][0]["Arguments"]
    assert train["HyperParameters"]["sagemaker_submit_directory"] == submit
    assert staged_code_files(train["InputDataConfig"], objects) == [submit]


def test_the_old_code_key_would_not_be_found() -> None:
    """The twin: main's key code/training/sourcedir-<hash>.tar.gz stages a file the job never looks for."""
    old_key = "code/training/sourcedir-0123456789abcdef.tar.gz"
    channels = [
        {"ChannelName": "code", "DataSource": {"S3DataSource": {"S3Uri": f"s3://artifacts/{old_key}"}}}
    ]
    assert staged_code_files(channels, {"artifacts": [old_key]}) != [SDK_ISOLATED_SUBMIT_DIRECTORY]


def test_without_network_isolation_the_container_fetches_code_from_s3() -> None:
    job = run_program("dev", {"trainingNetworkIsolation": "false"}).one(JOB).inputs
    assert job["enableNetworkIsolation"] is False
    assert job["hyperParameters"]["sagemaker_submit_directory"].startswith("s3://")
    assert [c["channelName"] for c in job["inputDataConfigs"]] == ["train", "validation"]


def test_hyperparameters_are_the_scripts_own_names(recording: Recording) -> None:
    hyper = recording.one(JOB).inputs["hyperParameters"]
    script = {k: v for k, v in hyper.items() if not k.startswith("sagemaker_")}
    assert set(script) == set(contract.HYPERPARAMETERS_BY_NAME)
    assert contract.validate_hyperparameters(script) == script


def request_of(settings: Any, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        settings=settings,
        image_uri="img:1",
        role_arn="arn:aws:iam::123456789012:role/r",
        key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        code_uri="s3://artifacts/code/training/0123456789abcdef/sourcedir.tar.gz",
        output_path="s3://artifacts/models/training",
        channel_uris={"train": "s3://data/train/", "validation": "s3://data/validation/"},
    )
    values.update(overrides)
    return training_job.job_request(training_job.JobInputs(**values))


def test_job_name_is_content_addressed() -> None:
    s = settings_of("dev").training
    name = training_job.job_name(base_name="sagestack-dev", request=request_of(s), run=1)
    assert name == training_job.job_name(base_name="sagestack-dev", request=request_of(s), run=1)
    assert re.fullmatch(r"sagestack-dev-[0-9a-f]{12}", name) and len(name) <= 63
    changed = [
        training_job.job_name(
            base_name="sagestack-dev",
            request=request_of(s, code_uri="s3://artifacts/code/training/fedcba9876543210/sourcedir.tar.gz"),
            run=1,
        ),
        training_job.job_name(base_name="sagestack-dev", request=request_of(s, image_uri="img:2"), run=1),
        training_job.job_name(
            base_name="sagestack-dev", request=request_of(s, role_arn="arn:aws:iam::1:role/x"), run=1
        ),
        training_job.job_name(base_name="sagestack-dev", request=request_of(s), run=2),
    ]
    assert len({name, *changed}) == 5


def test_same_program_twice_gives_the_same_job_and_pipeline() -> None:
    first, second = run_program("staging"), recording_of("staging")
    assert first.one(JOB).inputs["trainingJobName"] == second.one(JOB).inputs["trainingJobName"]
    assert (
        first.one(PIPELINE).inputs["pipelineDefinition"] == second.one(PIPELINE).inputs["pipelineDefinition"]
    )


def test_model_artifact_uri_follows_the_job(recording: Recording) -> None:
    job = recording.one(JOB).inputs
    assert recording.outputs["model_data_url"] == (
        f"{job['outputDataConfig']['s3OutputPath']}/{job['trainingJobName']}/output/model.tar.gz"
    )


def pin_matches(framework_version: str, sklearn_version: str) -> bool:
    """Image 1.9-0 ships scikit-learn 1.9.x: a model pickled by one minor release may not load in another."""
    return sklearn_version.split(".")[:2] == framework_version.split("-")[0].split(".")


def test_local_scikit_learn_pin_matches_the_framework_version(recording: Recording) -> None:
    framework = settings_of(recording.stack).training.framework_version
    assert pin_matches(framework, metadata.version("scikit-learn"))
    requirements = (Path(__file__).parents[2] / "requirements.txt").read_text()
    assert re.search(rf"^scikit-learn=={re.escape(framework.split('-')[0])}\.\d+$", requirements, re.M)


# --- the retraining pipeline ---------------------------------------------------------------------------------


def fixed_pipeline_inputs(**overrides: Any) -> retraining_pipeline.PipelineInputs:
    values: dict[str, Any] = dict(
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
        role_arn="arn:aws:iam::123456789012:role/sagestack-dev-sagemaker-execution",
        key_arn="arn:aws:kms:us-east-1:123456789012:key/0000",
        code_uri="s3://artifacts/code/training/0123456789abcdef/sourcedir.tar.gz",
        output_path="s3://artifacts/models/training",
        channel_uris={
            "train": "s3://data/datasets/churn/v1/train/",
            "validation": "s3://data/datasets/churn/v1/validation/",
        },
        model_package_group="sagestack-dev-models",
        settings=settings_of("dev").training,
        serving_environment={"SAGEMAKER_PROGRAM": "inference.py"},
        inference_instance_types=("ml.t2.medium",),
        code_sha256="0123456789abcdef" * 4,
        evaluation_path="s3://artifacts/models/evaluation",
    )
    values.update(overrides)
    return retraining_pipeline.PipelineInputs(**values)


def test_pipeline_definition_renders_identically_and_matches_the_snapshot() -> None:
    first = retraining_pipeline.render_pipeline_definition(fixed_pipeline_inputs())
    assert first == retraining_pipeline.render_pipeline_definition(fixed_pipeline_inputs())
    pretty = json.dumps(json.loads(first), indent=2, sort_keys=True) + "\n"
    if os.environ.get("SNAPSHOT_UPDATE") == "1":
        SNAPSHOT.write_text(pretty)
    assert pretty == SNAPSHOT.read_text(), "pipeline definition changed: review it, then run `make snapshots`"


def pipeline_shape_problems(definition: dict[str, Any]) -> list[str]:
    """Structural checks SageMaker would otherwise only make at CreatePipeline time."""
    problems = [] if definition.get("Version") == retraining_pipeline.PIPELINE_SCHEMA_VERSION else ["Version"]
    parameters = {p["Name"]: p for p in definition.get("Parameters", [])}
    problems += [
        f"parameter {p['Name']} type {p['Type']}"
        for p in parameters.values()
        if p["Type"] not in {"String", "Integer", "Float", "Boolean"}
    ]
    steps: dict[str, dict[str, Any]] = {}
    problems += _collect_steps(definition.get("Steps", []), steps)
    problems += [
        f"step {step['Name']} type {step['Type']}"
        for step in steps.values()
        if step["Type"] not in {"Training", "Condition", "RegisterModel", "Fail", "Processing", "Model"}
    ]
    problems += [
        f"dangling reference {reference}"
        for reference in _references(definition.get("Steps", []))
        if _dangling(reference, parameters, steps)
    ]
    register = [s for s in steps.values() if s["Type"] == "RegisterModel"]
    if (
        len(register) != 1
        or parameters.get("ModelApprovalStatus", {}).get("DefaultValue") != "PendingManualApproval"
    ):
        problems.append("candidates must register as PendingManualApproval")
    return problems


def _collect_steps(items: list[dict[str, Any]], steps: dict[str, dict[str, Any]]) -> list[str]:
    """Every step by name, the condition branches' included; returns the duplicate names found."""
    duplicates = []
    for step in items:
        if step["Name"] in steps:
            duplicates.append(f"duplicate step {step['Name']}")
        steps[step["Name"]] = step
        if step["Type"] == "Condition":
            duplicates += _collect_steps(step["Arguments"]["IfSteps"], steps)
            duplicates += _collect_steps(step["Arguments"]["ElseSteps"], steps)
    return duplicates


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["Get"]] if set(node) == {"Get"} else []
        return found + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for value in node for r in _references(value)]
    return []


def _dangling(reference: str, parameters: dict[str, Any], steps: dict[str, Any]) -> bool:
    kind, _, rest = reference.partition(".")
    target = rest.split(".")[0].split("[")[0]
    known = {"Parameters": parameters, "Steps": steps}
    if kind == "Execution":
        return False
    return kind not in known or target not in known[kind]


def test_recorded_pipeline_definitions_are_well_formed(recording: Recording) -> None:
    pipeline = recording.one(PIPELINE).inputs
    definition = json.loads(pipeline["pipelineDefinition"])
    assert pipeline_shape_problems(definition) == []
    train = definition["Steps"][0]["Arguments"]
    job = recording.one(JOB).inputs
    assert train["HyperParameters"] == job["hyperParameters"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == job["algorithmSpecification"]["trainingImage"]
    threshold = next(p for p in definition["Parameters"] if p["Name"] == "MinRocAuc")
    assert threshold["DefaultValue"] == settings_of(recording.stack).training.min_roc_auc
    role = next(
        r for r in recording.of_type("aws:iam/role:Role") if r.inputs["name"].endswith("-retraining-pipeline")
    )
    assert pipeline["roleArn"].endswith(role.inputs["name"])


def test_shape_check_catches_a_dangling_reference_and_a_wrong_approval_status() -> None:
    definition = retraining_pipeline.pipeline_definition(fixed_pipeline_inputs())
    definition["Steps"][1]["Arguments"]["Conditions"][0]["RightValue"] = {"Get": "Parameters.Missing"}
    definition["Parameters"][-1]["DefaultValue"] = "Approved"
    problems = pipeline_shape_problems(definition)
    assert "dangling reference Parameters.Missing" in problems
    assert "candidates must register as PendingManualApproval" in problems


def test_registry_and_pipeline_carry_the_stack_name(recording: Recording) -> None:
    group = recording.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs["modelPackageGroupName"]
    assert group == f"sagestack-{recording.stack}-models"
    assert (
        json.loads(recording.one(PIPELINE).inputs["pipelineDefinition"])["Steps"][1]["Arguments"]["IfSteps"][
            0
        ]["Arguments"]["ModelPackageGroupName"]
        == group
    )


def test_pin_check_fails_on_another_minor_release() -> None:
    assert not pin_matches("1.9-0", "1.8.2")
    assert not pin_matches("1.2-1", "1.9.1")


def test_a_new_training_run_number_gives_a_new_job_name() -> None:
    """SageMaker never reuses a job name, so retrying a failed job with unchanged inputs takes a new run."""
    first = run_program("dev").one(JOB).inputs["trainingJobName"]
    retry = run_program("dev", {"trainingRun": "2"}).one(JOB).inputs["trainingJobName"]
    assert first != retry


# --- issue 10 #7: the job name changes exactly when a replace-forcing input does ----------------------------

# terraform-provider-aws internal/service/sagemaker/training_job.go: every TrainingJob argument the stack sets
# carries a RequiresReplace plan modifier, except `tags` (tftags.TagsAttribute, updated in place) and the
# `timeouts` block (no plan modifier: provider-side only, never sent to SageMaker).
NOT_REPLACE_FORCING = frozenset({"tags", "timeouts"})
# Values to try for string keys whose neighbours a generic rule cannot guess.
STRING_VARIANTS = {
    "estimator": ["random_forest", "logistic_regression"],
    "trainingInstanceType": ["ml.m5.xlarge", "ml.c5.xlarge"],
    "endpointInstanceType": ["ml.m5.large", "ml.c5.large"],
    "deploymentStrategy": ["canary", "linear"],
    "frameworkVersion": ["1.9-1"],
    "permissionsBoundaryArn": ["arn:aws:iam::123456789012:policy/boundary"],
    "approvedModelPackageArn": [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/sagestack-dev-models/1"
    ],
    "dataPrefix": ["datasets/churn2"],
    "dataVersion": ["v2"],
}


def _candidates(name: str, kind: str, current: str) -> list[str]:
    if kind == "boolean":
        return ["false" if current == "true" else "true"]
    if kind == "integer":
        number = int(current)
        return [str(v) for v in (number + 1, number - 1, number * 2, 2)]
    if kind == "string":
        found = [v for v in STRING_VARIANTS.get(name, []) if v != current]
        try:
            number = float(current)
        except ValueError:
            return [*found, f"{current}x", f"{current}2"] if current else [*found, "x"]
        return [*found, str(round(number * 0.5, 6)), str(round(min(number * 1.5, 1.0), 6))]
    return []


def _variant(stack: str, name: str, kind: str, current: str) -> tuple[str, Any] | None:
    """The first candidate value that is valid config and changes the settings, with those settings."""
    base = settings_of(stack)
    for value in _candidates(name, kind, current):
        try:
            varied = settings_of(stack, **{name: value})
        except SettingsError:
            continue
        if varied != base:
            return value, varied
    return None


def _changed_fields(before: Any, after: Any, path: str = "") -> set[str]:
    changed = set()
    for f in dataclasses.fields(before):
        a, b = getattr(before, f.name), getattr(after, f.name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            changed |= _changed_fields(a, b, f"{path}{f.name}.")
        elif a != b:
            changed.add(f"{path}{f.name}")
    return changed


def _all_fields(cls: Any, path: str = "") -> set[str]:
    names = set()
    for f in dataclasses.fields(cls):
        nested = {"hyperparameters": Hyperparameters}.get(f.name)
        names |= _all_fields(nested, f"{path}{f.name}.") if nested else {f"{path}{f.name}"}
    return names


def _replace_forcing_inputs(recording: Recording) -> dict[str, Any]:
    job = recording.one(JOB).inputs
    return {k: v for k, v in job.items() if k not in NOT_REPLACE_FORCING and k != "trainingJobName"}


def test_every_training_key_renames_the_job_exactly_when_it_forces_a_replacement() -> None:
    """Vary each Pulumi.yaml key alone (dev: spot on, isolated); the name changes iff a replace-forcing input does.

    Keys are taken from the schema and kept when they change the training settings, the training archive
    (servingNetworkIsolation bundles serving code) or the physical names, so a new key is covered by itself.
    """
    stack = "dev"
    base = settings_of(stack)
    baseline = recording_of(stack)
    values = {**{k: to_config_string(v.default) for k, v in project_config_schema().items()}}
    values.update(load_stack_config(stack).values)
    covered: set[str] = set()
    checked = []
    for name, key in project_config_schema().items():
        if key.type == "array":
            continue
        found = _variant(stack, name, key.type, values[name])
        if found is None:  # no valid change of this key alone; the field coverage below still holds
            continue
        value, varied = found
        if not varied.deploy_model:
            continue
        training_fields = _changed_fields(base.training, varied.training)
        if not (
            training_fields
            or varied.serving.network_isolation != base.serving.network_isolation
            or varied.base_name != base.base_name
        ):
            continue
        covered |= training_fields
        recording = run_program(stack, {name: value})
        # trainingRun exists to ask for a new job with unchanged inputs (a retry after a failure).
        forcing = (
            _replace_forcing_inputs(recording) != _replace_forcing_inputs(baseline)
            or "run" in training_fields
        )
        renamed = recording.one(JOB).inputs["trainingJobName"] != baseline.one(JOB).inputs["trainingJobName"]
        assert renamed == forcing, (
            f"{name}={value}: replace-forcing inputs changed: {forcing}, job renamed: {renamed}"
        )
        checked.append((name, forcing))
    assert covered == _all_fields(TrainingSettings), (
        f"no config key varied {sorted(_all_fields(TrainingSettings) - covered)}; extend STRING_VARIANTS"
    )
    # Both directions were exercised: keys that force a new job, and keys that leave the job alone.
    assert {"trainingInstanceType", "spotMaxWaitSeconds", "trainingVolumeSizeGb"} <= {
        n for n, f in checked if f
    }
    assert "minRocAuc" in {n for n, f in checked if not f}


# Pulumi's input names for CreateTrainingJob fields whose names do not follow plain lowerCamelCase.
PULUMI_NAMES = {"InputDataConfig": "inputDataConfigs", "VolumeSizeInGB": "volumeSizeInGb"}


def as_pulumi_inputs(node: Any) -> Any:
    """A CreateTrainingJob request spelled as the pulumi-aws TrainingJob's recorded inputs."""
    if isinstance(node, dict):
        return {
            PULUMI_NAMES.get(k, k[0].lower() + k[1:]): v if k == "HyperParameters" else as_pulumi_inputs(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [as_pulumi_inputs(v) for v in node]
    return node


def test_the_job_sends_exactly_the_request_its_name_hashes(recording: Recording) -> None:
    job = recording.one(JOB).inputs
    s = settings_of(recording.stack).training
    channels = {c["channelName"]: c["dataSource"]["s3DataSource"]["s3Uri"] for c in job["inputDataConfigs"]}
    code_key = next(
        o.inputs["key"]
        for o in recording.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if o.inputs["key"].startswith("code/training/")
    )
    request = training_job.job_request(
        training_job.JobInputs(
            settings=s,
            image_uri=job["algorithmSpecification"]["trainingImage"],
            role_arn=job["roleArn"],
            key_arn=job["outputDataConfig"]["kmsKeyId"],
            code_uri=f"s3://{recording.outputs['artifacts_bucket']}/{code_key}",
            output_path=job["outputDataConfig"]["s3OutputPath"],
            channel_uris={c: channels[c] for c in training_job.CHANNELS},
        )
    )
    sent = {k: v for k, v in job.items() if k not in NOT_REPLACE_FORCING and k != "trainingJobName"}
    assert sent == as_pulumi_inputs(request)
    base = f"sagestack-{recording.stack}"
    assert job["trainingJobName"] == training_job.job_name(base_name=base, request=request, run=s.run)
