"""Serving: Model, EndpointConfiguration and an Endpoint that deploys blue/green and rolls itself back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.packaging import Archive
from infra.rollout import EndpointRollout, RolloutArgs
from infra.settings_types import ServingSettings
from infra.storage import object_uri, upload_code

# One definition with the policy pack: SageMaker rejects a volume KmsKeyId for local NVMe instance types.
from policy.guardrails.instance_storage import has_instance_storage

VARIANT_NAME = "primary"  # fixed: blue/green and rolling updates require the same variant name
PROGRAM = "inference.py"
CAPTURE_PREFIX = "datacapture"
# With network isolation the code travels inside model.tar.gz, which SageMaker unpacks into /opt/ml/model.
IN_ARTIFACT_SUBMIT_DIRECTORY = "/opt/ml/model/code"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def endpoint_name(base_name: str) -> str:
    """Fixed per stack: alarms, dashboards and callers address the endpoint by this name."""
    return base_name


def model_name(base_name: str, identity: object) -> str:
    """<base>-model-<12 hex of the model's inputs>: at most 25 + 19 characters of SageMaker's 63."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"{base_name}-model-{digest[:12]}"


def capture_uri(capture_bucket: str) -> str:
    return f"s3://{capture_bucket}/{CAPTURE_PREFIX}"


def serving_environment(*, settings: ServingSettings, code_uri: str, region: str) -> dict[str, str]:
    """The sklearn serving container's environment: which module to import and where it lives."""
    return _environment(IN_ARTIFACT_SUBMIT_DIRECTORY if settings.network_isolation else code_uri, region)


def package_environment(*, region: str) -> dict[str, str]:
    """A registered package's container environment: the code is read from inside model.tar.gz, so a stack
    serving the package, in any account, needs nothing from the producer's code/ prefix (never shared)."""
    return _environment(IN_ARTIFACT_SUBMIT_DIRECTORY, region)


def _environment(submit_directory: str, region: str) -> dict[str, str]:
    return {
        "SAGEMAKER_PROGRAM": PROGRAM,
        "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": region,
        # The container answers a missing Accept or a bare */* with this type (sagemaker_containers worker.Request).
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json",
    }


@dataclass(frozen=True)
class ServingArgs:
    base_name: str
    region: str
    settings: ServingSettings
    code: Archive
    image_uri: pulumi.Input[str]
    model_data_url: pulumi.Input[str] | None  # None when the stack serves an approved model package
    model_version: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    artifacts_bucket: pulumi.Input[str]
    capture_bucket: pulumi.Input[str]
    rollback_alarm_names: pulumi.Input[list[str]]
    # The stack-trained model's lineage (infra/lineage.py keys); a package carries its own in the registry.
    model_tags: pulumi.Input[dict[str, str]] | None = None


class Serving(pulumi.ComponentResource):
    endpoint_name: pulumi.Output[str]
    endpoint_config_name: pulumi.Output[str]
    model_name: pulumi.Output[str]
    code_uri: pulumi.Output[str]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:serving:Serving", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)

        code_object = upload_code(
            f"{name}-code", archive=args.code, unit="serving", bucket=args.artifacts_bucket, parent=self
        )
        self.code_uri = object_uri(code_object)
        environment = self.code_uri.apply(
            lambda uri: serving_environment(settings=s, code_uri=uri, region=args.region)
        )
        environment = pulumi.Output.all(environment, args.model_version).apply(
            lambda v: {**v[0], "SAGESTACK_MODEL_VERSION": v[1]}
        )

        if s.approved_model_package_arn:
            # No environment of its own: CreateModel refuses one beside a package's ("Environment variable map
            # cannot be specified both at Model Package and Model", aws/sagemaker-python-sdk#3397); the
            # package's applies, and the served-model resolver reports the package ARN as the version.
            container = aws.sagemaker.ModelPrimaryContainerArgs(
                model_package_name=s.approved_model_package_arn
            )
        else:
            container = aws.sagemaker.ModelPrimaryContainerArgs(
                image=args.image_uri, model_data_url=args.model_data_url, environment=environment
            )
        # Named after the stack and its content: a changed model is a new name, so the replacement can be
        # created before the old model goes, and the clean-up finds the stack's models by name.
        identity = pulumi.Output.all(
            s.approved_model_package_arn or args.image_uri,
            "" if s.approved_model_package_arn else args.model_data_url,
            environment,
            args.execution_role_arn,
            s.network_isolation,
        ).apply(lambda parts: model_name(args.base_name, parts))
        model = aws.sagemaker.Model(
            f"{name}-model",
            aws.sagemaker.ModelArgs(
                name=identity,
                execution_role_arn=args.execution_role_arn,
                primary_container=container,
                enable_network_isolation=s.network_isolation,
                tags=args.model_tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[code_object], retain_on_delete=True),
        )
        self.model_name = model.name

        if s.serverless is not None:
            variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                variant_name=VARIANT_NAME,
                model_name=model.name,
                serverless_config=aws.sagemaker.EndpointConfigurationProductionVariantServerlessConfigArgs(
                    memory_size_in_mb=s.serverless.memory_mb, max_concurrency=s.serverless.max_concurrency
                ),
            )
        else:
            variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                variant_name=VARIANT_NAME,
                model_name=model.name,
                instance_type=s.instance_type,
                initial_instance_count=s.instance_count,
                initial_variant_weight=1.0,
            )
        encrypt_volumes = s.serverless is None and not has_instance_storage(s.instance_type)
        capture = None
        if s.captures:
            capture = aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                enable_capture=True,
                initial_sampling_percentage=s.capture_sampling_percent,
                destination_s3_uri=pulumi.Output.from_input(args.capture_bucket).apply(capture_uri),
                kms_key_id=args.key_arn,
                capture_options=[
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(
                        capture_mode="Input"
                    ),
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(
                        capture_mode="Output"
                    ),
                ],
                # Declared types are captured as text (CSV/JSON encodings); anything else arrives base64-encoded.
                capture_content_type_header=aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
                    csv_content_types=["text/csv"], json_content_types=["application/json"]
                ),
            )
        # Models and configurations outlive their replacement: after a rolled-back deployment the endpoint
        # still serves the old pair, and deleting it would break every later update (pulumi-aws #48997).
        # infra.rollout.clean_up deletes them once a newer deployment was verified.
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            aws.sagemaker.EndpointConfigurationArgs(
                name_prefix=f"{args.base_name}-",
                production_variants=[variant],
                kms_key_arn=args.key_arn if encrypt_volumes else None,
                data_capture_config=capture,
            ),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

        # The provider creates and deletes the endpoint; it never updates it (its waiter gives up after 60
        # minutes and treats RollingBack as a failure): EndpointRollout deploys every later configuration.
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            aws.sagemaker.EndpointArgs(name=endpoint_name(args.base_name), endpoint_config_name=config.name),
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["endpointConfigName", "deploymentConfig"]
            ),
        )
        rollout = EndpointRollout(
            f"{name}-rollout",
            RolloutArgs(
                endpoint_name=endpoint.name,
                endpoint_config_name=config.name,
                variant_name=VARIANT_NAME,
                region=args.region,
                deployment_config=deployment_config(s, args.rollback_alarm_names),
                instance_count=None if s.serverless is not None else s.instance_count,
                timeout_seconds=s.deployment_timeout_seconds,
            ),
            opts=child,
        )
        self.endpoint_name = endpoint.name
        self.endpoint_config_name = rollout.served_endpoint_config_name

        if s.autoscaling is not None:
            target = aws.appautoscaling.Target(
                f"{name}-scaling-target",
                aws.appautoscaling.TargetArgs(
                    service_namespace="sagemaker",
                    resource_id=pulumi.Output.format("endpoint/{0}/variant/{1}", endpoint.name, VARIANT_NAME),
                    scalable_dimension=SCALABLE_DIMENSION,
                    min_capacity=s.autoscaling.min_instances,
                    max_capacity=s.autoscaling.max_instances,
                ),
                opts=child,
            )
            aws.appautoscaling.Policy(
                f"{name}-scaling-policy",
                aws.appautoscaling.PolicyArgs(
                    name=f"{args.base_name}-invocations-per-instance",
                    policy_type="TargetTrackingScaling",
                    service_namespace=target.service_namespace,
                    resource_id=target.resource_id,
                    scalable_dimension=target.scalable_dimension,
                    target_tracking_scaling_policy_configuration=(
                        aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                            target_value=float(s.autoscaling.target_invocations_per_instance),
                            predefined_metric_specification=(
                                aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                                )
                            ),
                            scale_in_cooldown=300,
                            scale_out_cooldown=60,
                        )
                    ),
                ),
                opts=child,
            )
        self.register_outputs(
            {
                "endpoint_name": self.endpoint_name,
                "endpoint_config_name": self.endpoint_config_name,
                "model_name": self.model_name,
            }
        )


def deployment_config(
    s: ServingSettings, rollback_alarm_names: pulumi.Input[list[str]]
) -> pulumi.Output[dict[str, Any]]:
    """UpdateEndpoint's DeploymentConfig: blue/green with the stack's traffic shifting, auto-rollback alarms."""
    return pulumi.Output.from_input(rollback_alarm_names).apply(
        lambda names: deployment_config_document(s, list(names))
    )


def deployment_config_document(s: ServingSettings, rollback_alarm_names: list[str]) -> dict[str, Any]:
    d = s.deployment
    routing: dict[str, Any] = {
        "Type": d.strategy.replace("-", "_").upper(),
        "WaitIntervalInSeconds": d.traffic_wait_seconds,
    }
    if d.strategy == "canary":
        routing["CanarySize"] = {"Type": "INSTANCE_COUNT", "Value": d.canary_instances}
    elif d.strategy == "linear":
        routing["LinearStepSize"] = {"Type": "INSTANCE_COUNT", "Value": d.linear_step_instances}
    document: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": d.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": s.deployment_timeout_seconds,
        }
    }
    if rollback_alarm_names:
        document["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in sorted(rollback_alarm_names)]
        }
    return document
