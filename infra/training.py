"""Training: the code package, the content-addressed TrainingJob (training_job.py), the model registry and the
retraining pipeline (retraining_pipeline.py).

Serving reads the model only through `CompletedTrainingJob`, which fails the update unless SageMaker reports the
job Completed and its model artifact exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam, lineage
from infra.completed_job import CompletedTrainingJob, CompletedTrainingJobArgs
from infra.packaging import Archive
from infra.retraining_pipeline import EVALUATION_PREFIX, PipelineInputs, render_pipeline_definition
from infra.settings_types import TrainingSettings
from infra.storage import object_uri, upload_code
from infra.training_job import (
    CHANNELS,
    CODE_CHANNEL,
    DATA_CONTENT_TYPE,
    MODEL_OUTPUT_PREFIX,
    JobInputs,
    channel_uris,
    hyperparameters,
    job_hyperparameters,
    job_name,
    job_request,
    longest_job_seconds,
    model_artifact_uri,
)
from training import contract


def model_package_group_name(base_name: str) -> str:
    return f"{base_name}-models"


def _channel_uri(channel: str) -> Callable[[dict[str, str]], str]:
    return lambda uris: uris[channel]


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
