"""Model, endpoint configuration, endpoint and autoscaling as every stack file declares them."""

from __future__ import annotations

import fnmatch
import json
import re
import tarfile

import pytest

from infra import packaging, serving
from infra import rollout as rollout_module
from infra.config_schema import load_stack_config
from infra.settings import settings_from_values
from tests.infra.aws_models import assert_valid_request, parliament_definition
from tests.infra.conftest import recording_of
from tests.infra.harness import ACCOUNT_ID, ROLLOUT_TYPE, Recording, run_program

CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
MODEL = "aws:sagemaker/model:Model"


def settings_of(stack: str):
    config = load_stack_config(stack)
    return settings_from_values(stack, config.region, config.values)


def test_one_production_variant_with_a_fixed_name(recording: Recording) -> None:
    variants = recording.one(CONFIG).inputs["productionVariants"]
    assert [v["variantName"] for v in variants] == [serving.VARIANT_NAME]
    s = settings_of(recording.stack).serving
    if s.serverless:
        assert variants[0]["serverlessConfig"] == {
            "memorySizeInMb": s.serverless.memory_mb,
            "maxConcurrency": s.serverless.max_concurrency,
        }
        assert "instanceType" not in variants[0]
    else:
        assert (variants[0]["instanceType"], variants[0]["initialInstanceCount"]) == (
            s.instance_type,
            s.instance_count,
        )


def test_capture_is_configured_at_the_stack_sampling_percentage(recording: Recording) -> None:
    s = settings_of(recording.stack).serving
    config = recording.one(CONFIG).inputs
    if not s.captures:
        assert "dataCaptureConfig" not in config and s.serverless is not None
        return
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["initialSamplingPercentage"] == s.capture_sampling_percent
    assert (
        capture["destinationS3Uri"] == f"s3://{recording.outputs['capture_bucket']}/{serving.CAPTURE_PREFIX}"
    )
    assert capture["kmsKeyId"].startswith("arn:aws:kms:")
    assert sorted(o["captureMode"] for o in capture["captureOptions"]) == ["Input", "Output"]
    assert capture["captureContentTypeHeader"] == {
        "csvContentTypes": ["text/csv"],
        "jsonContentTypes": ["application/json"],
    }


def test_volumes_are_encrypted_where_aws_allows_a_key(recording: Recording) -> None:
    s = settings_of(recording.stack).serving
    config = recording.one(CONFIG).inputs
    assert ("kmsKeyArn" in config) is (
        s.serverless is None and not serving.has_instance_storage(s.instance_type)
    )


def test_instance_storage_detection() -> None:
    assert serving.has_instance_storage("ml.m5d.large") and serving.has_instance_storage("ml.g4dn.xlarge")
    assert serving.has_instance_storage("ml.g5.xlarge")
    assert not serving.has_instance_storage("ml.m5.large") and not serving.has_instance_storage(
        "ml.c7i.large"
    )


ROLLOUT = ROLLOUT_TYPE


def test_deployment_config_follows_the_profile(recording: Recording) -> None:
    s = settings_of(recording.stack).serving
    deployment = recording.one(ROLLOUT).inputs["deployment_config"]
    policy = deployment["BlueGreenUpdatePolicy"]
    routing = policy["TrafficRoutingConfiguration"]
    assert routing["Type"] == s.deployment.strategy.replace("-", "_").upper()
    assert routing["WaitIntervalInSeconds"] == s.deployment.traffic_wait_seconds
    assert policy["TerminationWaitInSeconds"] == s.deployment.termination_wait_seconds
    assert policy["MaximumExecutionTimeoutInSeconds"] == s.deployment_timeout_seconds
    if s.deployment.strategy == "canary":
        assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": s.deployment.canary_instances}
        assert routing["CanarySize"]["Value"] * 2 <= s.instance_count
    if s.deployment.strategy == "linear":
        assert routing["LinearStepSize"] == {
            "Type": "INSTANCE_COUNT",
            "Value": s.deployment.linear_step_instances,
        }


# The document is sent to UpdateEndpoint as-is: it must be valid for AWS's own model of the API (botocore's
# sagemaker service-2.json), e.g. MaximumExecutionTimeoutInSeconds 600-14400 (API_BlueGreenUpdatePolicy).
def test_deployment_config_is_a_valid_update_endpoint_request(recording: Recording) -> None:
    rollout = recording.one(ROLLOUT).inputs
    request = rollout_module.update_request(
        rollout_module.RolloutSpec.from_props(rollout),
        previous=None,
    )
    assert_valid_request("sagemaker", "UpdateEndpoint", request)
    policy = request["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert 600 <= policy["MaximumExecutionTimeoutInSeconds"] <= 14_400


def test_rollback_watches_the_5xx_and_latency_alarms_of_this_variant(recording: Recording) -> None:
    endpoint = recording.one(ENDPOINT).inputs
    deployment = recording.one(ROLLOUT).inputs["deployment_config"]
    names = [a["AlarmName"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    alarms = {a.inputs["name"]: a.inputs for a in recording.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {alarms[n]["metricName"] for n in names} == {"Invocation5XXErrors", "ModelLatency"}
    for name in names:
        assert alarms[name]["dimensions"] == {
            "EndpointName": endpoint["name"],
            "VariantName": serving.VARIANT_NAME,
        }


# terraform-provider-aws internal/service/sagemaker/endpoint.go: waitEndpointInService has a fixed
# 60-minute timeout and no RollingBack pending state, and auto_rollback_configuration is ForceNew.
# So the provider's Endpoint is never asked to update: no deployment config, config changes ignored.
def test_the_provider_endpoint_is_created_and_never_updated(recording: Recording) -> None:
    endpoint = recording.one(ENDPOINT)
    assert "deploymentConfig" not in endpoint.inputs
    assert set(endpoint.ignore_changes) == {"endpointConfigName", "deploymentConfig"}
    rollout = recording.one(ROLLOUT)
    assert rollout.inputs["endpoint_name"] == endpoint.inputs["name"]
    assert rollout.inputs["endpoint_config_name"] == recording.one(CONFIG).state["name"]
    assert (
        rollout.inputs["timeout_seconds"] == settings_of(recording.stack).serving.deployment_timeout_seconds
    )
    assert recording.outputs["endpoint_config_name"] == rollout.state["served_endpoint_config_name"]


# pulumi-aws issues #48997 and #46663: after a rolled-back update the replaced configuration (still served)
# was deleted, and every later update failed with "Could not find endpoint configuration".
def test_models_and_configurations_are_never_deleted_by_pulumi(recording: Recording) -> None:
    assert recording.one(CONFIG).retain_on_delete
    assert recording.one(MODEL).retain_on_delete


def test_the_model_is_named_after_the_stack_and_its_content(recording: Recording) -> None:
    name = recording.one(MODEL).inputs["name"]
    assert re.fullmatch(rf"sagestack-{recording.stack}-model-[0-9a-f]{{12}}", name)
    assert len(name) <= 63  # API_CreateModel: ModelName up to 63 characters


def test_a_changed_model_gets_a_new_name() -> None:
    assert serving.model_name("s", ["image", "s3://a/model.tar.gz"]) != serving.model_name(
        "s", ["image", "s3://b/model.tar.gz"]
    )
    assert serving.model_name("s", ["image", "x"]) == serving.model_name("s", ["image", "x"])


def test_staging_and_prod_shift_traffic_gradually() -> None:
    assert settings_of("staging").serving.deployment.strategy == "canary"
    assert settings_of("prod").serving.deployment.strategy == "linear"
    assert settings_of("dev").serving.deployment.strategy == "all-at-once"


def test_autoscaling_bounds_per_stack(recording: Recording) -> None:
    s = settings_of(recording.stack).serving
    targets = recording.of_type("aws:appautoscaling/target:Target")
    if s.autoscaling is None:
        assert targets == [] and s.serverless is not None
        return
    target = targets[0].inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (
        s.autoscaling.min_instances,
        s.autoscaling.max_instances,
    )
    assert target["resourceId"] == f"endpoint/sagestack-{recording.stack}/variant/{serving.VARIANT_NAME}"
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    policy = recording.one("aws:appautoscaling/policy:Policy").inputs
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert (
        tracking["predefinedMetricSpecification"]["predefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )
    assert tracking["targetValue"] == s.autoscaling.target_invocations_per_instance


def test_sandbox_is_serverless_without_capture_or_scaling() -> None:
    s = settings_of("sandbox").serving
    assert s.serverless is not None and not s.captures and s.autoscaling is None


def test_model_loads_code_from_s3_by_default(recording: Recording) -> None:
    if settings_of(recording.stack).serving.network_isolation:
        pytest.skip("isolated stacks read the code from the model artifact (test below)")
    model = recording.one(MODEL).inputs
    environment = model["primaryContainer"]["environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    serving_code = next(
        o.inputs["key"]
        for o in recording.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if o.inputs["key"].startswith("code/serving/")
    )
    assert (
        environment["SAGEMAKER_SUBMIT_DIRECTORY"]
        == f"s3://{recording.outputs['artifacts_bucket']}/{serving_code}"
    )
    assert environment["SAGESTACK_MODEL_VERSION"] == recording.outputs["training_job_name"]
    assert model["primaryContainer"]["modelDataUrl"] == recording.outputs["model_data_url"]
    assert model.get("enableNetworkIsolation") is False


def test_network_isolated_endpoint_reads_code_from_inside_the_model_artifact(tmp_path) -> None:
    recording = run_program("staging", {"servingNetworkIsolation": "true"})
    model = recording.one(MODEL).inputs
    assert model["enableNetworkIsolation"] is True
    assert model["primaryContainer"]["environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    # ... which works because the training package then carries the serving code for train.py to copy.
    key = next(
        o.inputs["key"]
        for o in recording.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if o.inputs["key"].startswith("code/training/")
    )
    archive = packaging.build_training_archive(include_serving_code=True, build_dir=tmp_path)
    assert key == archive.key("code/training")
    with tarfile.open(archive.path) as tar:
        assert "serving_code/inference.py" in tar.getnames()


def test_a_pinned_model_package_replaces_the_training_artifact() -> None:
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/sagestack-prod-models/3"
    container = run_program("prod", {"approvedModelPackageArn": arn}).one(MODEL).inputs["primaryContainer"]
    assert container["modelPackageName"] == arn
    assert "modelDataUrl" not in container and "image" not in container


def allowed(policy: dict, action: str, resource: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if (
            statement["Effect"] == "Allow"
            and action in actions
            and any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources)
        ):
            return True
    return False


# docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html: the execution role
# needs cloudwatch:DescribeAlarms on the auto-rollback alarms. The Service Authorization Reference (as
# shipped in parliament's iam_definition.json) scopes DescribeAlarms to arn:...:cloudwatch:...:alarm:NAME.
def test_the_execution_role_may_read_every_rollback_alarm(recording: Recording) -> None:
    role = next(
        r for r in recording.of_type("aws:iam/role:Role") if r.inputs["name"].endswith("-sagemaker-execution")
    )
    policy = json.loads(role.inputs["inlinePolicies"][0]["policy"])
    region = recording.outputs.get("region") or settings_of(recording.stack).region
    names = [
        a["AlarmName"]
        for a in recording.one(ROLLOUT).inputs["deployment_config"]["AutoRollbackConfiguration"]["Alarms"]
    ]
    assert names
    for name in names:
        arn = f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}"
        assert allowed(policy, "cloudwatch:DescribeAlarms", arn), arn
    assert not allowed(
        policy,
        "cloudwatch:DescribeAlarms",
        f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:other-stack-alarm",
    )
    definition = parliament_definition("cloudwatch", "DescribeAlarms")
    assert [t["resource_type"] for t in definition["resource_types"]] == ["alarm*"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_serve_network_isolated(stack: str) -> None:
    # Isolation starts since the code installs with no index (tests/serving, no-index start test).
    assert settings_of(stack).serving.network_isolation
    model = recording_of(stack).one(MODEL).inputs
    assert model["enableNetworkIsolation"] is True
    assert model["primaryContainer"]["environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


def test_the_default_invocations_accept_is_json(recording: Recording) -> None:
    # sagemaker_containers worker.Request.accept substitutes it for a missing Accept or */*.
    environment = recording.one(MODEL).inputs["primaryContainer"]["environment"]
    assert environment["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] == "application/json"
