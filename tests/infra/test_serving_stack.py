"""Model, endpoint configuration, endpoint and autoscaling as every stack file declares them."""

from __future__ import annotations

import tarfile

import pytest

from infra import packaging, serving
from infra.config_schema import load_stack_config
from infra.settings import settings_from_values
from tests.infra.harness import Recording, run_program

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


def test_deployment_config_follows_the_profile(recording: Recording) -> None:
    s = settings_of(recording.stack).serving
    deployment = recording.one(ENDPOINT).inputs["deploymentConfig"]
    policy = deployment["blueGreenUpdatePolicy"]
    routing = policy["trafficRoutingConfiguration"]
    assert routing["type"] == s.deployment.strategy.replace("-", "_").upper()
    assert routing["waitIntervalInSeconds"] == s.deployment.traffic_wait_seconds
    assert policy["terminationWaitInSeconds"] == s.deployment.termination_wait_seconds
    assert 600 <= policy["maximumExecutionTimeoutInSeconds"] <= 14_400
    if s.deployment.strategy == "canary":
        assert routing["canarySize"] == {"type": "INSTANCE_COUNT", "value": s.deployment.canary_instances}
        assert routing["canarySize"]["value"] * 2 <= s.instance_count
    if s.deployment.strategy == "linear":
        assert routing["linearStepSize"] == {
            "type": "INSTANCE_COUNT",
            "value": s.deployment.linear_step_instances,
        }


def test_rollback_watches_the_5xx_and_latency_alarms_of_this_variant(recording: Recording) -> None:
    endpoint = recording.one(ENDPOINT).inputs
    names = [a["alarmName"] for a in endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    alarms = {a.inputs["name"]: a.inputs for a in recording.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {alarms[n]["metricName"] for n in names} == {"Invocation5XXErrors", "ModelLatency"}
    for name in names:
        assert alarms[name]["dimensions"] == {
            "EndpointName": endpoint["name"],
            "VariantName": serving.VARIANT_NAME,
        }


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


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_serve_network_isolated(stack: str) -> None:
    # Isolation starts since the code installs with no index (tests/serving, no-index start test).
    assert settings_of(stack).serving.network_isolation
    model = run_program(stack).one(MODEL).inputs
    assert model["enableNetworkIsolation"] is True
    assert model["primaryContainer"]["environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


def test_the_default_invocations_accept_is_json(recording: Recording) -> None:
    # sagemaker_containers worker.Request.accept substitutes it for a missing Accept or */*.
    environment = recording.one(MODEL).inputs["primaryContainer"]["environment"]
    assert environment["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] == "application/json"
