"""Wires the components together: storage -> IAM -> training -> monitoring -> serving."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam, packaging
from infra.images import MODEL_MONITOR_REPOSITORY, SKLEARN_REPOSITORY
from infra.monitoring import ModelMonitorArgs, ModelMonitorEngine, Monitoring, MonitoringArgs
from infra.serving import (
    CAPTURE_PREFIX,
    VARIANT_NAME,
    Serving,
    ServingArgs,
    endpoint_name,
    serving_environment,
)
from infra.settings import Settings
from infra.storage import Storage, StorageArgs, code_key
from infra.training import Training, TrainingArgs, image_tag, model_package_group_name


@dataclass(frozen=True)
class StackOutputs:
    base_name: str
    region: str  # where the stack lives: CI and verify.py read it with `pulumi stack output region`
    data_bucket: pulumi.Output[str]
    artifacts_bucket: pulumi.Output[str]
    capture_bucket: pulumi.Output[str]
    # Absent while the stack is bootstrapped with deployModel=false.
    training_job_name: pulumi.Output[str] | None = None
    model_data_url: pulumi.Output[str] | None = None
    pipeline_name: pulumi.Output[str] | None = None
    endpoint_name: pulumi.Output[str] | None = None
    endpoint_config_name: pulumi.Output[str] | None = None
    alarm_topic_arn: pulumi.Output[str] | None = None
    dashboard_name: pulumi.Output[str] | None = None


class Sagestack(pulumi.ComponentResource):
    """The whole stack, under one explicit provider that tags everything it creates."""

    outputs: StackOutputs

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None):
        # The provider is passed down as the component's provider, so every child inherits its default tags.
        provider = aws.Provider(
            "aws",
            aws.ProviderArgs(
                region=settings.region, default_tags=aws.ProviderDefaultTagsArgs(tags=settings.default_tags)
            ),
        )
        super().__init__(
            "sagestack:stack:Sagestack",
            settings.base_name,
            None,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers=[provider])),
        )
        self.outputs = build(settings, provider=provider, parent=self)
        self.register_outputs({})


def build(settings: Settings, *, provider: aws.Provider, parent: pulumi.Resource) -> StackOutputs:
    base, region = settings.base_name, settings.region
    opts = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOutputOptions(parent=parent, provider=provider)
    account_id = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition
    sklearn = aws.sagemaker.get_prebuilt_ecr_image_output(
        repository_name=SKLEARN_REPOSITORY,
        image_tag=image_tag(settings.training.framework_version),
        region=region,
        opts=invoke,
    )

    storage = Storage(
        "storage",
        StorageArgs(
            base_name=base,
            account_id=account_id,
            partition=partition,
            region=region,
            settings=settings.storage,
        ),
        opts=opts,
    )

    model_monitor = settings.monitoring.engine == "model-monitor"
    sagemaker_principal = iam.service_principal("sagemaker", region, parent=parent)
    execution_role = iam.role(
        "sagemaker-execution-role",
        role_name=f"{base}-sagemaker-execution",
        description="SageMaker training jobs, models and endpoints of this stack",
        trust_policy=iam.service_trust_policy(sagemaker_principal, account_id),
        inline_policy=iam.sagemaker_execution_policy(
            iam.ExecutionRoleScope(
                partition=partition,
                region=region,
                account_id=account_id,
                base_name=base,
                key_arn=storage.key_arn,
                data_bucket_arn=storage.data.arn,
                data_prefix=settings.training.data_key_prefix,
                artifacts_bucket_arn=storage.artifacts.arn,
                capture_bucket_arn=storage.capture.arn,
                capture_prefix=CAPTURE_PREFIX,
                image_repository_arn=pulumi.Output.format(
                    "arn:{0}:ecr:{1}:{2}:repository/{3}",
                    partition,
                    region,
                    sklearn.registry_id,
                    SKLEARN_REPOSITORY,
                ),
                model_monitor=model_monitor,
            )
        ),
        permissions_boundary=settings.permissions_boundary_arn,
        parent=parent,
    )
    registry = model_package_group_name(base)
    pipeline_role = iam.role(
        "pipeline-role",
        role_name=f"{base}-retraining-pipeline",
        description="The retraining pipeline: runs training jobs, registers candidate models",
        trust_policy=iam.service_trust_policy(sagemaker_principal, account_id),
        inline_policy=iam.pipeline_policy(
            partition=partition,
            region=region,
            account_id=account_id,
            base_name=base,
            model_package_group_name=registry,
            execution_role_arn=execution_role.arn,
            sagemaker_principal=sagemaker_principal,
        ),
        permissions_boundary=settings.permissions_boundary_arn,
        parent=parent,
    )

    if not settings.deploy_model:
        return StackOutputs(
            base_name=base,
            region=region,
            data_bucket=storage.data.name,
            artifacts_bucket=storage.artifacts.name,
            capture_bucket=storage.capture.name,
        )

    package = settings.serving.approved_model_package_arn  # set: serve it, and train nothing here
    serving_code = packaging.build_serving_archive()
    training_code = packaging.build_training_archive(include_serving_code=settings.serving.network_isolation)
    training = Training(
        "training",
        TrainingArgs(
            base_name=base,
            region=region,
            settings=settings.training,
            code=training_code,
            image_uri=sklearn.registry_path,
            execution_role_arn=execution_role.arn,
            pipeline_role_arn=pipeline_role.arn,
            key_arn=storage.key_arn,
            data_bucket=storage.data.name,
            artifacts_bucket=storage.artifacts.name,
            serving_environment=pulumi.Output.format(
                "s3://{0}/{1}", storage.artifacts.name, code_key(serving_code, "serving")
            ).apply(lambda uri: serving_environment(settings=settings.serving, code_uri=uri, region=region)),
            inference_instance_types=(settings.serving.instance_type,),
            train_in_stack=package is None,
        ),
        opts=opts,
    )
    model_version = package or training.job_name  # what the endpoint reports it serves
    if model_version is None:
        raise AssertionError("a stack that trains nothing must serve a model package")
    # The drift engine may read the packages of this stack's registry and the one the stack is pinned to.
    own_packages = pulumi.Output.format(
        "arn:{0}:sagemaker:{1}:{2}:model-package/{3}/*", partition, region, account_id, registry
    )

    endpoint = endpoint_name(base)
    schedule_name = f"{base}-data-quality"
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            base_name=base,
            region=region,
            account_id=account_id,
            partition=partition,
            settings=settings.monitoring,
            log_retention_days=settings.log_retention_days,
            permissions_boundary_arn=settings.permissions_boundary_arn,
            endpoint_name=endpoint,
            variant_name=VARIANT_NAME,
            key_arn=storage.key_arn,
            capture_bucket=storage.capture.name,
            capture_bucket_arn=storage.capture.arn,
            capture_prefix=CAPTURE_PREFIX,
            artifacts_bucket=storage.artifacts.name,
            artifacts_bucket_arn=storage.artifacts.arn,
            model_package_arns=(own_packages, *([package] if package else [])),
            pipeline_name=training.pipeline_name,
            pipeline_arn=training.pipeline_arn,
            engine_code=packaging.build_monitoring_archive(),
            model_monitor_schedule_name=schedule_name,
            capture_sampling_percent=settings.serving.capture_sampling_percent,
        ),
        opts=opts,
    )

    serving = Serving(
        "serving",
        ServingArgs(
            base_name=base,
            region=region,
            settings=settings.serving,
            code=serving_code,
            image_uri=sklearn.registry_path,
            model_data_url=training.model_data_url,
            model_version=model_version,
            execution_role_arn=execution_role.arn,
            key_arn=storage.key_arn,
            artifacts_bucket=storage.artifacts.name,
            capture_bucket=storage.capture.name,
            rollback_alarm_names=monitoring.rollback_alarm_names,
            model_tags=training.lineage_tags,
        ),
        opts=opts,
    )

    if model_monitor:
        analyzer = aws.sagemaker.get_prebuilt_ecr_image_output(
            repository_name=MODEL_MONITOR_REPOSITORY, image_tag="latest", region=region, opts=invoke
        )
        ModelMonitorEngine(
            "model-monitor",
            ModelMonitorArgs(
                base_name=base,
                region=region,
                schedule_name=schedule_name,
                endpoint_name=serving.endpoint_name,
                execution_role_arn=execution_role.arn,
                key_arn=storage.key_arn,
                artifacts_bucket=storage.artifacts.name,
                image_uri=analyzer.registry_path,
                schedule_minutes=settings.monitoring.schedule_minutes,
            ),
            opts=opts,
        )

    return StackOutputs(
        base_name=base,
        region=region,
        data_bucket=storage.data.name,
        artifacts_bucket=storage.artifacts.name,
        capture_bucket=storage.capture.name,
        training_job_name=training.job_name,
        model_data_url=training.model_data_url,
        pipeline_name=training.pipeline_name,
        endpoint_name=serving.endpoint_name,
        endpoint_config_name=serving.endpoint_config_name,
        alarm_topic_arn=monitoring.topic_arn,
        dashboard_name=monitoring.dashboard_name,
    )
