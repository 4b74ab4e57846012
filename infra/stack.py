"""Wires the components together: storage -> IAM -> training -> monitoring -> serving."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam, iam_sharing, packaging, role_policies
from infra.dashboard import Dashboard, DashboardArgs, DriftView
from infra.drift_monitoring import drift_monitoring
from infra.endpoint_alarms import EndpointAlarms, EndpointAlarmsArgs
from infra.images import SKLEARN_REPOSITORY
from infra.notifications import Notifications, NotificationsArgs
from infra.serving import (
    CAPTURE_PREFIX,
    VARIANT_NAME,
    Serving,
    ServingArgs,
    endpoint_name,
    package_environment,
)
from infra.settings_types import Settings
from infra.storage import Storage, StorageArgs
from infra.training import Training, TrainingArgs, model_package_group_name
from infra.training_job import image_tag


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


def registry_policy(
    settings: Settings, *, partition: pulumi.Input[str], account_id: pulumi.Input[str]
) -> dict[str, Any] | None:
    """The registry's resource policy when other accounts serve this stack's models (none otherwise)."""
    if not settings.model_consumer_accounts:
        return None
    return iam_sharing.model_package_group_policy(
        settings.model_consumer_accounts,
        partition=partition,
        region=settings.region,
        account_id=account_id,
        group_name=model_package_group_name(settings.base_name),
    )


class Sagestack(pulumi.ComponentResource):
    """The whole stack, under one explicit provider that tags everything it creates."""

    outputs: StackOutputs

    def __init__(self, settings: Settings, opts: pulumi.ResourceOptions | None = None):
        # The provider is passed down as the component's provider, so every child inherits its default tags.
        provider = aws.Provider(
            "aws",
            aws.ProviderArgs(
                region=settings.region,
                default_tags=aws.ProviderDefaultTagsArgs(tags=settings.default_tags),
                # An explicit provider does not read aws:allowedAccountIds by itself; grants depend on it.
                allowed_account_ids=list(settings.allowed_account_ids) or None,
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
    partition_info = aws.get_partition_output(opts=invoke)
    partition, dns_suffix = partition_info.partition, partition_info.dns_suffix
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
            dns_suffix=dns_suffix,
            model_consumer_accounts=settings.model_consumer_accounts,
            # The drift engine brings the scale-out state machine (see drift_monitoring).
            encrypted_state_machine_logs=settings.monitoring.engine is not None,
        ),
        opts=opts,
    )
    artifacts = settings.serving.package_artifacts  # where a pinned package from another stack lives
    package_scope = (
        iam_sharing.PackageArtifactsScope(
            partition=partition,
            region=region,
            dns_suffix=dns_suffix,
            bucket=artifacts.bucket,
            key_arn=artifacts.key_arn,
        )
        if artifacts
        else None
    )

    sagemaker_principal = iam.service_principal("sagemaker", region, parent=parent)
    execution_role = iam.role(
        "sagemaker-execution-role",
        role_name=f"{base}-sagemaker-execution",
        description="SageMaker training jobs, models and endpoints of this stack",
        trust_policy=iam.service_trust_policy(sagemaker_principal, account_id),
        inline_policy=role_policies.sagemaker_execution_policy(
            role_policies.ExecutionRoleScope(
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
                package_artifacts=package_scope,
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
        inline_policy=role_policies.pipeline_policy(
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
    # Every model.tar.gz carries the inference code, so a package registered from it serves anywhere.
    training_code = packaging.build_training_archive(include_serving_code=True)
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
            serving_environment=package_environment(region=region),
            inference_instance_types=(settings.serving.instance_type,),
            train_in_stack=package is None,
            registry_policy=registry_policy(settings, partition=partition, account_id=account_id),
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
    notifications = Notifications(
        "notifications",
        NotificationsArgs(
            base_name=base,
            account_id=account_id,
            key_arn=storage.key_arn,
            emails=settings.monitoring.alarm_emails,
        ),
        opts=opts,
    )
    endpoint_alarms = EndpointAlarms(
        "endpoint-alarms",
        EndpointAlarmsArgs(
            base_name=base,
            endpoint_name=endpoint,
            variant_name=VARIANT_NAME,
            thresholds=settings.monitoring.thresholds,
            topic_arn=notifications.topic_arn,
        ),
        opts=opts,
    )
    alarm_arns = list(endpoint_alarms.alarm_arns)
    if settings.monitoring.engine is not None:
        alarm_arns += drift_monitoring(
            settings,
            parent=parent,
            account_id=account_id,
            partition=partition,
            storage=storage,
            training=training,
            topic_arn=notifications.topic_arn,
            model_package_arns=(own_packages, *([package] if package else [])),
            package_artifacts=package_scope,
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
            rollback_alarm_names=endpoint_alarms.rollback_alarm_names,
            model_tags=training.lineage_tags,
        ),
        opts=opts,
    )

    monitoring = settings.monitoring
    dashboard = Dashboard(
        "dashboard",
        DashboardArgs(
            base_name=base,
            region=region,
            endpoint_name=endpoint,
            variant_name=VARIANT_NAME,
            drift=DriftView(monitoring.schedule_minutes, monitoring.thresholds.drift_psi)
            if monitoring.engine is not None
            else None,
            alarm_arns=tuple(alarm_arns),
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
        alarm_topic_arn=notifications.topic_arn,
        dashboard_name=dashboard.dashboard_name,
    )
