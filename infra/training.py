"""Training: the code package, a content-addressed TrainingJob, the model registry and the retraining pipeline.

The job's name is a hash of the whole CreateTrainingJob request the stack sends (every input the provider
treats as replace-forcing), so `pulumi up` starts a new job, under a new name, exactly when one of them
changes, and never otherwise. Serving reads the model only through `CompletedTrainingJob`, which fails the
update unless SageMaker reports the job Completed and its model artifact exists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam, lineage
from infra.completed_job import CompletedTrainingJob, CompletedTrainingJobArgs
from infra.packaging import Archive
from infra.settings_types import TrainingSettings
from infra.storage import object_uri, upload_code
from training import contract

PROGRAM = "train.py"
CHANNELS = contract.DATA_CHANNELS
CODE_CHANNEL = contract.CODE_CHANNEL
DATA_CONTENT_TYPE = "text/csv"
MODEL_OUTPUT_PREFIX = f"{iam.MODELS_PREFIX}/training"
# Pipeline jobs copy their evaluation report here (CheckpointConfig), one folder per pipeline execution.
EVALUATION_PREFIX = f"{iam.MODELS_PREFIX}/evaluation"
EVALUATION_CONTENT_TYPE = "application/json"
PIPELINE_SCHEMA_VERSION = "2020-12-01"


def image_tag(framework_version: str) -> str:
    return f"{framework_version}-cpu-py3"


def hyperparameters(settings: TrainingSettings) -> dict[str, str]:
    """The training script's hyperparameters, as the strings a CreateTrainingJob request carries."""
    h = settings.hyperparameters
    return contract.validate_hyperparameters(
        {
            "estimator": h.estimator,
            "n_estimators": h.n_estimators,
            "max_depth": h.max_depth,
            "learning_rate": h.learning_rate,
            "C": h.regularization_c,
            "min_samples_leaf": h.min_samples_leaf,
            "random_state": h.random_seed,
        }
    )


def submit_directory(settings: TrainingSettings, code_uri: str) -> str:
    """Where the container finds the code: a network-isolated container cannot reach S3, so a channel brings it.

    The code channel's S3Uri is the archive's own key, so SageMaker stages it under the key's file name.
    """
    return contract.isolated_submit_directory(code_uri) if settings.network_isolation else code_uri


def job_hyperparameters(settings: TrainingSettings, code_uri: str) -> dict[str, str]:
    """Everything in the job's HyperParameters: the script's own plus the toolkit's `sagemaker_*` keys."""
    return {
        **hyperparameters(settings),
        "sagemaker_program": PROGRAM,
        "sagemaker_submit_directory": submit_directory(settings, code_uri),
        "sagemaker_container_log_level": "20",
    }


def channel_uris(settings: TrainingSettings, data_bucket: str) -> dict[str, str]:
    return {channel: f"s3://{data_bucket}/{settings.data_key_prefix}/{channel}/" for channel in CHANNELS}


def job_name(*, base_name: str, request: dict[str, Any], run: int) -> str:
    """`<base>-<hash>` of the CreateTrainingJob request: the same request gives the same name, any change a new one.

    Every TrainingJob argument the provider marks RequiresReplace is in the request, so a change that makes
    Pulumi replace the job also renames it (a reused name would make create-before-replace fail).
    """
    identity = json.dumps({"request": request, "run": run}, sort_keys=True, separators=(",", ":"))
    return f"{base_name}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class JobInputs:
    """Plain values a training job's CreateTrainingJob request is rendered from."""

    settings: TrainingSettings
    image_uri: str
    role_arn: str
    key_arn: str
    code_uri: str
    output_path: str
    # S3Uri of each data channel: a URI, or a pipeline parameter reference.
    channel_uris: dict[str, Any]


def _s3_prefix_channel(name: str, uri: Any, content_type: str | None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    if content_type:
        channel["ContentType"] = content_type
    return channel


def job_request(j: JobInputs) -> dict[str, Any]:
    """The CreateTrainingJob request (without name and tags) the stack's job and the pipeline's Train step send."""
    s = j.settings
    channels = [_s3_prefix_channel(c, j.channel_uris[c], DATA_CONTENT_TYPE) for c in CHANNELS]
    if s.network_isolation:
        channels.append(_s3_prefix_channel(CODE_CHANNEL, j.code_uri, None))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": s.max_runtime_seconds}
    if s.spot:
        stopping["MaxWaitTimeInSeconds"] = s.spot_max_wait_seconds
    return {
        "AlgorithmSpecification": {
            "TrainingImage": j.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": contract.metric_definitions(),
        },
        "HyperParameters": job_hyperparameters(s, j.code_uri),
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": j.output_path, "KmsKeyId": j.key_arn, "CompressionType": "GZIP"},
        "ResourceConfig": {
            "InstanceCount": 1,
            "InstanceType": s.instance_type,
            "VolumeSizeInGB": s.volume_size_gb,
            "VolumeKmsKeyId": j.key_arn,
        },
        "RoleArn": j.role_arn,
        "StoppingCondition": stopping,
        "EnableNetworkIsolation": s.network_isolation,
        "EnableManagedSpotTraining": s.spot,
    }


def longest_job_seconds(settings: TrainingSettings) -> int:
    """The longest a job may legitimately run: its spot wait (capacity plus training) or its max runtime."""
    return settings.spot_max_wait_seconds if settings.spot else settings.max_runtime_seconds


def _channel_uri(channel: str) -> Callable[[dict[str, str]], str]:
    return lambda uris: uris[channel]


def model_package_group_name(base_name: str) -> str:
    return f"{base_name}-models"


def model_artifact_uri(output_path: str, name: str) -> str:
    """Where SageMaker writes a finished job's model: <output path>/<job name>/output/model.tar.gz."""
    return f"{output_path.rstrip('/')}/{name}/output/model.tar.gz"


@dataclass(frozen=True)
class PipelineInputs:
    """Plain values the retraining pipeline's definition is rendered from (so it renders the same every time)."""

    image_uri: str
    role_arn: str
    key_arn: str
    code_uri: str
    output_path: str
    channel_uris: dict[str, str]
    model_package_group: str
    settings: TrainingSettings
    serving_environment: dict[str, str]
    inference_instance_types: tuple[str, ...]
    code_sha256: str
    evaluation_path: str  # s3://<artifacts>/models/evaluation
    git_commit: str | None = None


def _join(*values: Any, on: str = "") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def _validation_metrics_value() -> dict[str, Any]:
    """`validation:accuracy=<v> validation:f1=<v> ...` from the Train step's captured metrics."""
    values: list[Any] = []
    for index, metric in enumerate(sorted(contract.VALIDATION_METRICS)):
        values += [
            f"{' ' if index else ''}{metric}=",
            {"Get": f"Steps.Train.FinalMetricDataList['{metric}'].Value"},
        ]
    return _join(*values)


def evaluation_report_uri(evaluation_path: str) -> dict[str, Any]:
    """Where this execution's Train step leaves evaluation.json: its checkpoint folder, copied to S3 as is."""
    return _join(evaluation_path, {"Get": "Execution.PipelineExecutionId"}, "evaluation.json", on="/")


def registered_lineage(p: PipelineInputs) -> dict[str, Any]:
    """CustomerMetadataProperties of a registered candidate (values resolved by the pipeline at run time)."""
    properties: dict[str, Any] = {
        lineage.TRAINING_JOB: {"Get": "Steps.Train.TrainingJobName"},
        lineage.DATA: _join(
            *(
                part
                for index, channel in enumerate(CHANNELS)
                for part in (
                    f"{' ' if index else ''}{channel}=",
                    {"Get": f"Parameters.{channel.capitalize()}DataUri"},
                )
            )
        ),
        lineage.CODE_SHA256: p.code_sha256,
        lineage.HYPERPARAMETERS: lineage.assignments(hyperparameters(p.settings)),
        lineage.VALIDATION_METRICS: _validation_metrics_value(),
        lineage.IMAGE: lineage.value(p.image_uri),
    }
    if p.git_commit:
        properties[lineage.GIT_COMMIT] = p.git_commit
    return properties


def pipeline_definition(p: PipelineInputs) -> dict[str, Any]:
    """Train -> check validation ROC AUC against a threshold -> register as PendingManualApproval, or fail."""
    s = p.settings
    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            **job_request(
                JobInputs(
                    settings=s,
                    image_uri=p.image_uri,
                    role_arn=p.role_arn,
                    key_arn=p.key_arn,
                    code_uri=p.code_uri,
                    output_path=p.output_path,
                    channel_uris={c: {"Get": f"Parameters.{c.capitalize()}DataUri"} for c in CHANNELS},
                )
            ),
            # train.py copies evaluation.json into the checkpoint directory; SageMaker uploads it unpacked.
            "CheckpointConfig": {
                "S3Uri": _join(p.evaluation_path, {"Get": "Execution.PipelineExecutionId"}, on="/")
            },
        },
    }
    register = {
        "Name": "RegisterCandidate",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": p.model_package_group,
            "ModelApprovalStatus": {"Get": "Parameters.ModelApprovalStatus"},
            "ModelPackageDescription": "Retrained on drift; approve to deploy by pinning approvedModelPackageArn",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": p.image_uri,
                        "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                        "Environment": p.serving_environment,
                    }
                ],
                "SupportedContentTypes": ["application/json", "text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": list(p.inference_instance_types),
                "SupportedTransformInstanceTypes": list(p.inference_instance_types),
            },
            "CustomerMetadataProperties": registered_lineage(p),
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": EVALUATION_CONTENT_TYPE,
                        "S3Uri": evaluation_report_uri(p.evaluation_path),
                    }
                }
            },
            **({"MetadataProperties": {"CommitId": p.git_commit}} if p.git_commit else {}),
        },
    }
    fail = {
        "Name": "RocAucBelowThreshold",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": {
                "Std:Join": {
                    "On": " ",
                    "Values": [
                        f"{contract.METRIC_ROC_AUC} below",
                        {"Get": "Parameters.MinRocAuc"},
                        "- candidate not registered",
                    ],
                }
            }
        },
    }
    check = {
        "Name": "CheckRocAuc",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": {
                        "Get": f"Steps.Train.FinalMetricDataList['{contract.METRIC_ROC_AUC}'].Value"
                    },
                    "RightValue": {"Get": "Parameters.MinRocAuc"},
                }
            ],
            "IfSteps": [register],
            "ElseSteps": [fail],
        },
    }
    parameters = [
        *(
            {
                "Name": f"{channel.capitalize()}DataUri",
                "Type": "String",
                "DefaultValue": p.channel_uris[channel],
            }
            for channel in CHANNELS
        ),
        {"Name": "MinRocAuc", "Type": "Float", "DefaultValue": s.min_roc_auc},
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
    ]
    return {
        "Version": PIPELINE_SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": parameters,
        "Steps": [train, check],
    }


def render_pipeline_definition(p: PipelineInputs) -> str:
    return json.dumps(pipeline_definition(p), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class TrainingArgs:
    base_name: str
    region: str
    settings: TrainingSettings
    code: Archive
    image_uri: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    pipeline_role_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    data_bucket: pulumi.Input[str]
    artifacts_bucket: pulumi.Input[str]
    serving_environment: pulumi.Input[dict[str, str]]
    inference_instance_types: tuple[str, ...]
    # False when the stack serves an approved model package: the registry and pipeline stay, the job goes.
    train_in_stack: bool = True
    # The registry's resource policy (infra.iam.model_package_group_policy): other accounts serving its models.
    registry_policy: dict[str, Any] | None = None
    git_commit: str | None = field(default_factory=lineage.git_commit_from_environment)


def stack_lineage(
    *,
    job_name: str,
    channel_uris: dict[str, str],
    code_sha256: str,
    settings: TrainingSettings,
    image_uri: str,
    git_commit: str | None,
) -> dict[str, str]:
    """The lineage of the stack's own job, known at deploy time, as tags (validation metrics come after the job)."""
    tags = {
        lineage.TRAINING_JOB: lineage.value(job_name),
        lineage.DATA: lineage.data_locations(channel_uris),
        lineage.CODE_SHA256: code_sha256,
        lineage.HYPERPARAMETERS: lineage.assignments(hyperparameters(settings)),
        lineage.IMAGE: lineage.value(image_uri),
    }
    if git_commit:
        tags[lineage.GIT_COMMIT] = git_commit
    return lineage.check(tags)


class Training(pulumi.ComponentResource):
    job_name: pulumi.Output[str] | None
    model_data_url: pulumi.Output[str] | None
    lineage_tags: pulumi.Output[dict[str, str]] | None
    code_uri: pulumi.Output[str]
    model_package_group_name: pulumi.Output[str]
    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:training:Training", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        code_object = upload_code(
            f"{name}-code", archive=args.code, unit="training", bucket=args.artifacts_bucket, parent=self
        )
        self.code_uri = object_uri(code_object)
        output_path = pulumi.Output.format("s3://{0}/{1}", args.artifacts_bucket, MODEL_OUTPUT_PREFIX)
        data_uris = pulumi.Output.from_input(args.data_bucket).apply(lambda bucket: channel_uris(s, bucket))
        evaluation_path = pulumi.Output.format("s3://{0}/{1}", args.artifacts_bucket, EVALUATION_PREFIX)

        # What both the stack's job and the retraining pipeline are rendered from.
        rendered_from = pulumi.Output.all(
            image=args.image_uri,
            role=args.execution_role_arn,
            key=args.key_arn,
            code=self.code_uri,
            output=output_path,
            uris=data_uris,
            serving_environment=args.serving_environment,
            evaluation=evaluation_path,
        )
        request = rendered_from.apply(
            lambda v: job_request(
                JobInputs(
                    settings=s,
                    image_uri=v["image"],
                    role_arn=v["role"],
                    key_arn=v["key"],
                    code_uri=v["code"],
                    output_path=v["output"],
                    channel_uris=v["uris"],
                )
            )
        )
        self.job_name = self.model_data_url = self.lineage_tags = None
        if args.train_in_stack:
            self.job_name, self.model_data_url, self.lineage_tags = self._train(
                name, args, request, rendered_from, output_path, code_object
            )

        group_name = model_package_group_name(args.base_name)
        group = aws.sagemaker.ModelPackageGroup(
            f"{name}-registry",
            aws.sagemaker.ModelPackageGroupArgs(
                model_package_group_name=group_name,
                model_package_group_description=f"{args.base_name}: candidate models from the retraining pipeline",
            ),
            opts=child,
        )
        self.model_package_group_name = group.model_package_group_name
        if args.registry_policy is not None:
            aws.sagemaker.ModelPackageGroupPolicy(
                f"{name}-registry-policy",
                aws.sagemaker.ModelPackageGroupPolicyArgs(
                    model_package_group_name=group.model_package_group_name,
                    resource_policy=iam.document_json(args.registry_policy),
                ),
                opts=child,
            )
        definition = rendered_from.apply(
            lambda v: render_pipeline_definition(
                PipelineInputs(
                    image_uri=v["image"],
                    role_arn=v["role"],
                    key_arn=v["key"],
                    code_uri=v["code"],
                    output_path=v["output"],
                    channel_uris=v["uris"],
                    model_package_group=group_name,
                    settings=s,
                    serving_environment=v["serving_environment"],
                    inference_instance_types=args.inference_instance_types,
                    code_sha256=args.code.sha256,
                    evaluation_path=v["evaluation"],
                    git_commit=args.git_commit,
                )
            )
        )
        pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            aws.sagemaker.PipelineArgs(
                pipeline_name=f"{args.base_name}-retrain",
                pipeline_display_name=f"{args.base_name}-retrain",
                pipeline_description="Retrain on the current data, gate on validation ROC AUC, register for approval",
                role_arn=args.pipeline_role_arn,
                pipeline_definition=definition,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[group]),
        )
        self.pipeline_name = pipeline.pipeline_name
        self.pipeline_arn = pipeline.arn
        self.register_outputs(
            {
                "job_name": self.job_name,
                "model_data_url": self.model_data_url,
                "code_uri": self.code_uri,
                "model_package_group_name": self.model_package_group_name,
                "pipeline_name": self.pipeline_name,
            }
        )

    def _train(
        self,
        name: str,
        args: TrainingArgs,
        request: pulumi.Output[dict[str, Any]],
        rendered_from: pulumi.Output[dict[str, Any]],
        output_path: pulumi.Output[str],
        code_object: pulumi.Resource,
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[dict[str, str]]]:
        """The stack's own training job, the model artifact of it once SageMaker reports Completed, its lineage."""
        s = args.settings
        data_uris: pulumi.Output[dict[str, str]] = rendered_from.apply(lambda v: v["uris"])
        job_name_value = request.apply(lambda r: job_name(base_name=args.base_name, request=r, run=s.run))
        tags = pulumi.Output.all(job_name_value, rendered_from).apply(
            lambda v: stack_lineage(
                job_name=v[0],
                channel_uris=v[1]["uris"],
                code_sha256=args.code.sha256,
                settings=s,
                image_uri=v[1]["image"],
                git_commit=args.git_commit,
            )
        )
        channels = [
            aws.sagemaker.TrainingJobInputDataConfigArgs(
                channel_name=channel,
                content_type=DATA_CONTENT_TYPE,
                data_source=aws.sagemaker.TrainingJobInputDataConfigDataSourceArgs(
                    s3_data_source=aws.sagemaker.TrainingJobInputDataConfigDataSourceS3DataSourceArgs(
                        s3_data_type="S3Prefix",
                        s3_uri=data_uris.apply(_channel_uri(channel)),
                        s3_data_distribution_type="FullyReplicated",
                    )
                ),
            )
            for channel in CHANNELS
        ]
        if s.network_isolation:
            channels.append(
                aws.sagemaker.TrainingJobInputDataConfigArgs(
                    channel_name=CODE_CHANNEL,
                    data_source=aws.sagemaker.TrainingJobInputDataConfigDataSourceArgs(
                        s3_data_source=aws.sagemaker.TrainingJobInputDataConfigDataSourceS3DataSourceArgs(
                            s3_data_type="S3Prefix",
                            s3_uri=self.code_uri,
                            s3_data_distribution_type="FullyReplicated",
                        )
                    ),
                )
            )
        job = aws.sagemaker.TrainingJob(
            f"{name}-job",
            aws.sagemaker.TrainingJobArgs(
                training_job_name=job_name_value,
                role_arn=args.execution_role_arn,
                algorithm_specification=aws.sagemaker.TrainingJobAlgorithmSpecificationArgs(
                    training_image=args.image_uri,
                    training_input_mode="File",
                    metric_definitions=[
                        aws.sagemaker.TrainingJobAlgorithmSpecificationMetricDefinitionArgs(
                            name=d["Name"], regex=d["Regex"]
                        )
                        for d in contract.metric_definitions()
                    ],
                ),
                hyper_parameters=self.code_uri.apply(lambda uri: job_hyperparameters(s, uri)),
                input_data_configs=channels,
                output_data_config=aws.sagemaker.TrainingJobOutputDataConfigArgs(
                    s3_output_path=output_path, kms_key_id=args.key_arn, compression_type="GZIP"
                ),
                resource_config=aws.sagemaker.TrainingJobResourceConfigArgs(
                    instance_type=s.instance_type,
                    instance_count=1,
                    volume_size_in_gb=s.volume_size_gb,
                    volume_kms_key_id=args.key_arn,
                ),
                stopping_condition=aws.sagemaker.TrainingJobStoppingConditionArgs(
                    max_runtime_in_seconds=s.max_runtime_seconds,
                    max_wait_time_in_seconds=s.spot_max_wait_seconds if s.spot else None,
                ),
                enable_managed_spot_training=s.spot,
                enable_network_isolation=s.network_isolation,
                # Tags are the one TrainingJob argument the provider updates in place (see job_name's tests).
                tags=tags,
                # The provider waits for the job (default 45 min); allow the longest it may legitimately take.
                timeouts=aws.sagemaker.TrainingJobTimeoutsArgs(create=f"{longest_job_seconds(s) + 1800}s"),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[code_object]),
        )
        completed = CompletedTrainingJob(
            f"{name}-completed",
            CompletedTrainingJobArgs(
                job_name=job.training_job_name,
                model_data_url=pulumi.Output.all(output_path, job.training_job_name).apply(
                    lambda values: model_artifact_uri(values[0], values[1])
                ),
                region=args.region,
                wait_seconds=longest_job_seconds(s) + 1800,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[job]),
        )
        # The only way to the model: serving is created from a job SageMaker reports Completed.
        return job.training_job_name, completed.model_data_url, tags
