"""Promotion across accounts: a producer grants its consumers what serving and drift need, and nothing more.

The proof runs the real program twice offline (tests/infra/cross_account.py): the staging stack as a
producer listing the consumer account, and the prod stack in that account pinned to a staging package.
Each cross-account statement the consumer's roles carry is evaluated against the producer's resource
policies (bucket, key, registry) with the request context AWS sends; broader requests must fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from infra import iam_sharing
from infra.config_schema import load_stack_config
from infra.settings import SettingsError, settings_from_values
from policy.guardrails import iam as guardrails_iam
from tests.infra.cross_account import (
    CONSUMER_ACCOUNT,
    PRODUCER_ACCOUNT,
    REGION,
    Request,
    artifacts_bucket,
    bucket_policy,
    consumer,
    cross_account_allowed,
    decision,
    key_arn,
    key_policy,
    pinned_package_arn,
    producer,
    registry_policy,
    resource_policies,
    role_policy,
)
from tests.infra.harness import Recording
from tests.policy.pack_runner import fixtures_from_recording, pack_config, run_pack

THIRD_ACCOUNT = "999999999999"
S3_VIA = f"s3.{REGION}.amazonaws.com"


def consumer_role(name: str) -> str:
    return f"arn:aws:iam::{CONSUMER_ACCOUNT}:role/sagestack-prod-{name}"


def producer_bucket_arn() -> str:
    return f"arn:aws:s3:::{artifacts_bucket(producer())}"


def model_object_arn() -> str:
    """Where the producer's pipeline puts a model: its Train step's output path, then the SageMaker layout
    <path>/<job name>/output/model.tar.gz (https://docs.aws.amazon.com/sagemaker/latest/dg/model-train-storage.html)."""
    definition = json.loads(producer().one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    output = definition["Steps"][0]["Arguments"]["OutputDataConfig"]["S3OutputPath"]
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    return f"arn:aws:s3:::{bucket}/{prefix}/pipelines-a1b2c3/output/model.tar.gz"


def s3_decrypt_context(account: str, bucket_arn: str) -> dict[str, str]:
    """What KMS sees when S3 decrypts an SSE-KMS object for `account`: S3 as the via service
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service),
    the caller's account (#conditions-kms-caller-account) and, with S3 Bucket Keys, the bucket ARN as the
    encryption context (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html)."""
    return {
        "kms:ViaService": S3_VIA,
        "kms:CallerAccount": account,
        "kms:EncryptionContext:aws:s3:arn": bucket_arn,
        "aws:SecureTransport": "true",
    }


def consumer_settings() -> Any:
    from tests.infra.cross_account import consumer_overrides

    config = load_stack_config("prod")
    overrides = consumer_overrides()
    values = {**config.values, **{k: v for k, v in overrides.items() if ":" not in k}}
    return settings_from_values(
        "prod", config.region, values, allowed_account_ids=overrides["aws:allowedAccountIds"]
    )


def producer_document_for(resource: str) -> dict[str, Any]:
    """The producer's resource policy that governs `resource` (an S3 object, the key, a package)."""
    if resource.startswith("arn:aws:s3:::"):
        return bucket_policy(producer(), "storage-artifacts")
    if resource.startswith("arn:aws:kms:"):
        return key_policy(producer())
    if resource.startswith("arn:aws:sagemaker:"):
        return registry_policy(producer())
    raise AssertionError(f"no producer resource policy governs {resource}")


def cross_account_statements(document: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(Sid, action, resource) of every allowed action on a resource of the producer's account or bucket."""
    found = []
    for statement in guardrails_iam.statements(document):
        for resource in statement["Resource"]:
            if PRODUCER_ACCOUNT in resource and statement["Effect"] == "Allow":
                found += [(statement["Sid"], action, resource) for action in statement["Action"]]
    return found


def concrete(resource: str) -> str:
    """One ARN a pattern grants: the model the pin serves for the bucket, the key itself, the package."""
    if resource.startswith("arn:aws:s3:::"):
        assert resource.endswith("/models/*"), resource
        return model_object_arn()
    return resource.replace("*", "x")


def request_for(principal: str, action: str, resource: str) -> Request:
    context: dict[str, str] = {"aws:SecureTransport": "true"}
    if action.startswith("kms:"):
        context = s3_decrypt_context(CONSUMER_ACCOUNT, producer_bucket_arn())
    return Request(principal, action, concrete(resource), context)


# --- what the consumer needs is granted -----------------------------------------------------------------


CONSUMER_ROLES = {
    "sagemaker-execution": ("ReadPinnedPackageModel", "DecryptPinnedPackageModel"),
    "drift-engine": ("ReadPinnedPackageModel", "DecryptPinnedPackageModel", "ReadServedModelPackage"),
}


def consumer_role_documents() -> dict[str, dict[str, Any]]:
    return {
        "sagemaker-execution": role_policy(consumer(), "-sagemaker-execution"),
        "drift-engine": role_policy(consumer(), "-drift-engine"),
    }


@pytest.mark.parametrize("role", CONSUMER_ROLES)
def test_every_cross_account_statement_of_a_consumer_role_is_granted_by_the_producer(role: str) -> None:
    document = consumer_role_documents()[role]
    statements = cross_account_statements(document)
    assert {sid for sid, _, _ in statements} == set(CONSUMER_ROLES[role])
    for sid, action, resource in statements:
        request = request_for(consumer_role(role), action, resource)
        assert cross_account_allowed(request, [document], producer_document_for(request.resource)), (
            f"{role} {sid}: {action} on {request.resource} is not granted on the producer side"
        )


def test_the_consumer_execution_role_reads_exactly_the_pinned_models_prefix_and_key() -> None:
    statements = {s["Sid"]: s for s in role_policy(consumer(), "-sagemaker-execution")["Statement"]}
    assert statements["ReadPinnedPackageModel"]["Resource"] == [f"{producer_bucket_arn()}/models/*"]
    assert statements["DecryptPinnedPackageModel"]["Resource"] == [key_arn(producer())]
    assert statements["DecryptPinnedPackageModel"]["Condition"] == {
        "StringEquals": {"kms:ViaService": S3_VIA}
    }


def test_the_consumer_deploys_from_the_package_the_producer_shares() -> None:
    # The deployer's CreateModel and DescribeModelPackage on the package, and promote's listing: the
    # SageMaker guide's cross-account deployment grants these on model-package/<group>/*
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-deploy-xaccount.html).
    deployer = f"arn:aws:iam::{CONSUMER_ACCOUNT}:role/deployer"
    for action in ("sagemaker:CreateModel", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"):
        request = Request(deployer, action, pinned_package_arn())
        assert decision(registry_policy(producer()), request, resource_policy=True) == "Allow", action
    model = consumer().one("aws:sagemaker/model:Model").inputs
    assert model["primaryContainer"]["modelPackageName"] == pinned_package_arn()
    assert consumer().of_type("aws:sagemaker/trainingJob:TrainingJob") == []


# --- and nothing broader ----------------------------------------------------------------------------------


def broader_requests() -> list[tuple[str, Request]]:
    """Requests a consumer role must not get through the producer's resource policies."""
    role = consumer_role("sagemaker-execution")
    bucket, model = producer_bucket_arn(), model_object_arn()
    data_bucket = bucket.replace("-artifacts-", "-data-")
    capture_bucket = bucket.replace("-artifacts-", "-capture-")
    s3_context = {"aws:SecureTransport": "true"}
    decrypt = s3_decrypt_context(CONSUMER_ACCOUNT, bucket)
    key, package = key_arn(producer()), pinned_package_arn()
    group = package.replace(":model-package/", ":model-package-group/").rsplit("/", 1)[0]
    return [
        ("write a model", Request(role, "s3:PutObject", model, s3_context)),
        ("delete a model", Request(role, "s3:DeleteObject", model, s3_context)),
        ("list the bucket", Request(role, "s3:ListBucket", bucket, s3_context)),
        (
            "read the code prefix",
            Request(role, "s3:GetObject", f"{bucket}/code/training/x.tar.gz", s3_context),
        ),
        ("read training data", Request(role, "s3:GetObject", f"{data_bucket}/datasets/x.csv", s3_context)),
        ("read captures", Request(role, "s3:GetObject", f"{capture_bucket}/datacapture/x", s3_context)),
        ("decrypt directly", Request(role, "kms:Decrypt", key, {"kms:CallerAccount": CONSUMER_ACCOUNT})),
        (
            "decrypt another bucket's objects",
            Request(
                role, "kms:Decrypt", key, {**decrypt, "kms:EncryptionContext:aws:s3:arn": capture_bucket}
            ),
        ),
        ("encrypt through S3", Request(role, "kms:GenerateDataKey", key, decrypt)),
        ("re-encrypt", Request(role, "kms:ReEncryptFrom", key, decrypt)),
        ("approve a package", Request(role, "sagemaker:UpdateModelPackage", package)),
        ("delete a package", Request(role, "sagemaker:DeleteModelPackage", package)),
        ("register a package", Request(role, "sagemaker:CreateModelPackage", group)),
        ("describe the group", Request(role, "sagemaker:DescribeModelPackageGroup", group)),
        (
            "a third account reads a model",
            Request(f"arn:aws:iam::{THIRD_ACCOUNT}:role/x", "s3:GetObject", model, s3_context),
        ),
        (
            "a third account decrypts",
            Request(
                f"arn:aws:iam::{THIRD_ACCOUNT}:role/x",
                "kms:Decrypt",
                key,
                s3_decrypt_context(THIRD_ACCOUNT, bucket),
            ),
        ),
        (
            "a third account uses a package",
            Request(f"arn:aws:iam::{THIRD_ACCOUNT}:role/x", "sagemaker:CreateModel", package),
        ),
    ]


@pytest.mark.parametrize("case", [case for case, _ in broader_requests()])
def test_the_producer_grants_nothing_broader(case: str) -> None:
    request = dict(broader_requests())[case]
    document = producer_document_for(request.resource)
    assert decision(document, request, resource_policy=True) != "Allow", case


def test_the_evaluator_can_say_allow_for_each_broader_request_shape() -> None:
    """The twin: with a policy that grants everything to the consumer, the same requests are allowed."""
    everything = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{CONSUMER_ACCOUNT}:root", THIRD_ACCOUNT]},
                "Action": "*",
                "Resource": "*",
            }
        ]
    }
    for case, request in broader_requests():
        assert decision(everything, request, resource_policy=True) == "Allow", case


def test_the_tls_only_deny_still_applies_to_consumers() -> None:
    request = Request(
        consumer_role("drift-engine"), "s3:GetObject", model_object_arn(), {"aws:SecureTransport": "false"}
    )
    assert decision(bucket_policy(producer(), "storage-artifacts"), request, resource_policy=True) == "Deny"


def principals_of(document: Mapping[str, Any]) -> list[Any]:
    return [s.get("Principal") for s in guardrails_iam.statements(document) if s["Effect"] == "Allow"]


@pytest.mark.parametrize("side", ["producer", "consumer"])
def test_resource_policies_name_no_wildcard_principal_and_no_other_account(side: str) -> None:
    recording = producer() if side == "producer" else consumer()
    own = PRODUCER_ACCOUNT if side == "producer" else CONSUMER_ACCOUNT
    expected_accounts = {own, CONSUMER_ACCOUNT} if side == "producer" else {own}
    accounts = set()
    for name, document in resource_policies(recording).items():
        for principal in principals_of(document):
            assert principal != "*" and isinstance(principal, dict), (name, principal)
            assert "*" not in json.dumps(principal.get("AWS", [])), (name, principal)
            aws = principal.get("AWS", [])
            accounts |= {arn.split(":")[4] for arn in (aws if isinstance(aws, list) else [aws])}
    assert accounts == expected_accounts


def consumer_grants(recording: Recording) -> list[dict[str, Any]]:
    root = f"arn:aws:iam::{CONSUMER_ACCOUNT}:root"
    return [
        s
        for document in resource_policies(recording).values()
        for s in guardrails_iam.statements(document)
        if root in json.dumps(s.get("Principal", {}))
    ]


def test_the_consumer_account_gets_three_read_statements_and_no_write() -> None:
    grants = {
        s["Sid"]: sorted(s["Action"]) if isinstance(s["Action"], list) else [s["Action"]]
        for s in consumer_grants(producer())
    }
    assert grants == {
        "ConsumerAccountsReadModels": ["s3:GetObject"],
        "ConsumerAccountsDecryptModelsThroughS3": ["kms:Decrypt"],
        "ConsumerAccountsUsePackages": list(iam_sharing.CONSUMER_REGISTRY_ACTIONS),
    }


def test_a_producer_without_consumers_grants_no_other_account() -> None:
    from tests.infra.conftest import recording_of

    assert not consumer_grants(recording_of("staging"))
    assert not recording_of("staging").of_type(
        "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"
    )


@pytest.mark.parametrize("side", ["producer", "consumer"])
def test_both_stacks_pass_the_policy_pack(side: str) -> None:
    recording, profile = (producer(), "staging") if side == "producer" else (consumer(), "prod")
    assert run_pack(fixtures_from_recording(recording), pack_config(profile)) == []


def test_the_consumer_provider_refuses_any_other_account() -> None:
    # The aws provider fails before any change when the credentials' account is not listed
    # (https://registry.terraform.io/providers/hashicorp/aws/latest/docs#allowed_account_ids).
    (provider,) = [r for r in consumer().resources if r.type == "pulumi:providers:aws"]
    assert json.loads(provider.inputs["allowedAccountIds"]) == [CONSUMER_ACCOUNT]


# --- config errors -----------------------------------------------------------------------------------------


def staging_settings(allowed: list[str] | None = None, **overrides: str) -> Any:
    config = load_stack_config("staging")
    return settings_from_values(
        "staging",
        config.region,
        {**config.values, **overrides},
        allowed_account_ids=None if allowed is None else json.dumps(allowed),
    )


BAD_PRODUCER_CONFIG = [
    (["1234567890"], [PRODUCER_ACCOUNT], "'1234567890': expected 12-digit AWS account IDs"),
    (["21098765432a"], [PRODUCER_ACCOUNT], "'21098765432a': expected 12-digit AWS account IDs"),
    ("210987654321", [PRODUCER_ACCOUNT], "expected a list of 12-digit AWS account IDs"),
    ([CONSUMER_ACCOUNT, CONSUMER_ACCOUNT], [PRODUCER_ACCOUNT], "expected each account once"),
    ([PRODUCER_ACCOUNT], [PRODUCER_ACCOUNT], "expected accounts other than the stack's own"),
    ([CONSUMER_ACCOUNT], None, "aws:allowedAccountIds is not set"),
]


@pytest.mark.parametrize(("consumers", "allowed", "message"), BAD_PRODUCER_CONFIG)
def test_bad_consumer_accounts_are_named(consumers: Any, allowed: list[str] | None, message: str) -> None:
    raw = consumers if isinstance(consumers, str) else json.dumps(consumers)
    with pytest.raises(SettingsError, match=r"modelConsumerAccounts|allowedAccountIds") as error:
        staging_settings(allowed, modelConsumerAccounts=raw)
    assert message in str(error.value)


def test_good_consumer_accounts_are_read() -> None:
    settings = staging_settings([PRODUCER_ACCOUNT], modelConsumerAccounts=json.dumps([CONSUMER_ACCOUNT]))
    assert settings.model_consumer_accounts == (CONSUMER_ACCOUNT,)
    assert settings.allowed_account_ids == (PRODUCER_ACCOUNT,)


def test_malformed_allowed_account_ids_are_named() -> None:
    config = load_stack_config("staging")
    with pytest.raises(SettingsError, match=r"aws:allowedAccountIds = '\[123\]': expected a list"):
        settings_from_values("staging", config.region, config.values, allowed_account_ids="[123]")


def prod_settings(**overrides: str) -> Any:
    config = load_stack_config("prod")
    return settings_from_values("prod", config.region, {**config.values, **overrides})


PRODUCER_KEY = f"arn:aws:kms:{REGION}:{PRODUCER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "sagestack-staging-artifacts-123456789012-eu-west-1"

BAD_CONSUMER_CONFIG = [
    ({}, "approvedModelPackageArn", "or modelArtifactsBucket and modelArtifactsKeyArn set beside it"),
    ({"modelArtifactsBucket": BUCKET}, "modelArtifactsKeyArn", "set together with modelArtifactsBucket"),
    (
        {"modelArtifactsKeyArn": PRODUCER_KEY},
        "modelArtifactsBucket",
        "set together with modelArtifactsKeyArn",
    ),
    (
        {"modelArtifactsBucket": "Bad_Bucket", "modelArtifactsKeyArn": PRODUCER_KEY},
        "modelArtifactsBucket",
        "an S3 bucket name",
    ),
    (
        {"modelArtifactsBucket": "192.168.1.1", "modelArtifactsKeyArn": PRODUCER_KEY},
        "modelArtifactsBucket",
        "an S3 bucket name",
    ),
    (
        {
            "modelArtifactsBucket": BUCKET,
            "modelArtifactsKeyArn": f"arn:aws:kms:{REGION}:{PRODUCER_ACCOUNT}:alias/x",
        },
        "modelArtifactsKeyArn",
        "a KMS key ARN",
    ),
    (
        {"modelArtifactsBucket": BUCKET, "modelArtifactsKeyArn": PRODUCER_KEY.replace(REGION, "us-east-1")},
        "modelArtifactsKeyArn",
        "a key in eu-west-1",
    ),
    (
        {
            "modelArtifactsBucket": BUCKET,
            "modelArtifactsKeyArn": PRODUCER_KEY.replace(PRODUCER_ACCOUNT, THIRD_ACCOUNT),
        },
        "modelArtifactsKeyArn",
        f"the package's account {PRODUCER_ACCOUNT}",
    ),
]


@pytest.mark.parametrize(("overrides", "key", "message"), BAD_CONSUMER_CONFIG)
def test_a_consumer_pin_without_its_artifacts_config_is_refused(
    overrides: dict[str, str], key: str, message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        prod_settings(approvedModelPackageArn=pinned_package_arn(), **overrides)
    assert any(p.startswith(f"sagestack:{key} = ") and message in p for p in error.value.problems), (
        error.value
    )


def test_artifacts_config_without_a_pin_is_refused() -> None:
    with pytest.raises(SettingsError, match=r'modelArtifactsBucket = .*"" without approvedModelPackageArn'):
        prod_settings(modelArtifactsBucket=BUCKET, modelArtifactsKeyArn=PRODUCER_KEY)


def test_a_pin_of_the_stacks_own_registry_needs_no_artifacts_config() -> None:
    own = f"arn:aws:sagemaker:{REGION}:{PRODUCER_ACCOUNT}:model-package/sagestack-prod-models/2"
    settings = prod_settings(approvedModelPackageArn=own)
    assert settings.serving.approved_model_package_arn == own
    assert settings.serving.package_artifacts is None


def test_a_consumer_pin_with_its_artifacts_config_is_read() -> None:
    settings = prod_settings(
        approvedModelPackageArn=pinned_package_arn(),
        modelArtifactsBucket=BUCKET,
        modelArtifactsKeyArn=PRODUCER_KEY,
    )
    assert settings.serving.package_artifacts is not None
    assert (settings.serving.package_artifacts.bucket, settings.serving.package_artifacts.key_arn) == (
        BUCKET,
        PRODUCER_KEY,
    )


def test_without_the_producers_grants_the_consumer_is_refused() -> None:
    """The twin of the proof: a producer that lists no consumer refuses every request the consumer needs."""
    from tests.infra.conftest import recording_of

    plain = recording_of("staging")
    documents = {
        "arn:aws:s3:::": bucket_policy(plain, "storage-artifacts"),
        "arn:aws:kms:": key_policy(plain),
    }
    role = consumer_role_documents()["sagemaker-execution"]
    for sid, action, resource in cross_account_statements(role):
        request = request_for(consumer_role("sagemaker-execution"), action, resource)
        (document,) = [d for prefix, d in documents.items() if request.resource.startswith(prefix)]
        assert not cross_account_allowed(request, [role], document), sid
