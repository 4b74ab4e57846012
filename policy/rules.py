"""sagestack guardrails: CrossGuard policies as plain module-level objects.

`__main__.py` puts them in a `PolicyPack`; tests import this module and call each policy's `validate`
directly, so the rules run in CI without the Pulumi CLI. Standard library and pulumi-policy only: the
pack runs in whatever environment `pulumi preview --policy-pack policy` gives it.

Unknown values (outputs not computed yet during a preview) are never violations: a check that reaches
one stops for that resource and reports nothing about it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SQS_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
ENDPOINT_CONFIGURATION = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ENDPOINT_ROLLOUT = "pulumi-python:dynamic/sagestack:EndpointRollout"
TRAINING_JOB = "aws:sagemaker/trainingJob:TrainingJob"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
DATA_QUALITY_JOB_DEFINITION = "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
AWS_PROVIDER = "pulumi:providers:aws"

_UNKNOWNS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class Unknown(Exception):
    """A value the check needs is not known yet (preview): the check has nothing to say."""


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _UNKNOWNS


def plain(value: Any) -> Any:
    """Copy pulumi-policy's unknown-checking proxies into plain dicts and lists, keeping unknown sentinels."""
    if isinstance(value, Mapping):
        copied = {}
        for key in value:
            try:
                copied[key] = plain(value[key])
            except UnknownValueError as e:
                copied[key] = e.unknown_type_sentinel
        return copied
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError as e:
                items.append(e.unknown_type_sentinel)
        return items
    return value


def known(value: Any) -> Any:
    if is_unknown(value):
        raise Unknown
    return value


def get(props: Any, *path: str | int) -> Any:
    """The value at `path`, None where absent; raises Unknown where any step is not known yet."""
    node = known(props)
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
            node = known(node[step])
        else:
            if not isinstance(node, dict) or step not in node:
                return None
            node = known(node[step])
    return node


def items(props: Any, *path: str) -> list[Any]:
    """A list property (None and a lone object are normalised), each element checked for unknowns."""
    value = get(props, *path)
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [known(v) for v in value]


def truthy(value: Any) -> bool:
    """Booleans arrive as bools from the engine and sometimes as strings from JSON documents."""
    value = known(value)
    if isinstance(value, str):
        return value.lower() == "true"
    return value is True


# --- IAM documents ---------------------------------------------------------------------------------

# Where each resource type carries policy documents, as paths into its properties ("[]" = every element).
POLICY_DOCUMENT_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    IAM_ROLE: (("inlinePolicies", "[]", "policy"),),
    IAM_ROLE_POLICY: (("policy",),),
    IAM_USER_POLICY: (("policy",),),
    IAM_GROUP_POLICY: (("policy",),),
    IAM_POLICY: (("policy",),),
    BUCKET_POLICY: (("policy",),),
    KMS_KEY: (("policy",),),
    SNS_TOPIC: (("policy",),),
    SNS_TOPIC_POLICY: (("policy",),),
    SQS_QUEUE_POLICY: (("policy",),),
}

# Resource-based policies carry a Principal; identity policies do not.
RESOURCE_POLICY_TYPES = frozenset({BUCKET_POLICY, KMS_KEY, SNS_TOPIC, SNS_TOPIC_POLICY, SQS_QUEUE_POLICY})


@dataclass(frozen=True)
class PolicyDocument:
    location: str  # e.g. "inlinePolicies[0].policy"
    document: dict[str, Any]


def _walk(props: Any, path: Sequence[str], location: str) -> Iterator[tuple[str, Any]]:
    if not path:
        yield location, props
        return
    head, rest = path[0], path[1:]
    if head == "[]":
        for index, element in enumerate(items(props)):
            yield from _walk(element, rest, f"{location}[{index}]")
    else:
        value = get(props, head)
        if value is not None:
            yield from _walk(value, rest, f"{location}.{head}" if location else head)


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> list[PolicyDocument]:
    """Every IAM policy document a resource carries, parsed; raises Unknown if any is not known yet."""
    documents = []
    for path in POLICY_DOCUMENT_PATHS.get(resource_type, ()):
        for location, raw in _walk(props, path, ""):
            raw = known(raw)
            if isinstance(raw, str):
                if not raw.strip():
                    continue
                try:
                    parsed = json.loads(raw)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{location}: not valid JSON ({e})") from e
            else:
                parsed = raw
            documents.append(PolicyDocument(location, parsed))
    return documents


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


_SERVICE_WIDE = re.compile(r"^[A-Za-z0-9-]+:\*$")
_ACCOUNT_ROOT = re.compile(r"^(arn:aws[a-z-]*:iam::\d{12}:root|\d{12})$")


def _is_account_root_only(principal: Any) -> bool:
    if not isinstance(principal, dict) or set(principal) != {"AWS"}:
        return False
    values = as_list(principal["AWS"])
    return bool(values) and all(isinstance(v, str) and _ACCOUNT_ROOT.match(v) for v in values)


def wildcard_grants(resource_type: str, document: Mapping[str, Any]) -> list[str]:
    """Allow statements that grant every action, or every action of a service on every resource."""
    problems = []
    for index, statement in enumerate(statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        label = statement.get("Sid") or f"Statement[{index}]"
        if "NotAction" in statement:
            problems.append(f"{label}: Allow with NotAction grants every action not listed")
            continue
        actions = [a for a in as_list(statement.get("Action")) if isinstance(a, str)]
        resources = as_list(statement.get("Resource"))
        every_resource = "*" in resources or "NotResource" in statement
        if "*" in actions:
            problems.append(f'{label}: "Action": "*" grants every action of every service')
            continue
        service_wide = [a for a in actions if _SERVICE_WIDE.match(a)]
        if not service_wide or not every_resource:
            continue
        # The account-root key-admin statement: in a key policy "*" is this key, and the root principal
        # only delegates to IAM, whose policies this pack checks. Without it the key becomes unmanageable.
        if (
            resource_type == KMS_KEY
            and service_wide == ["kms:*"]
            and len(actions) == 1
            and _is_account_root_only(statement.get("Principal"))
        ):
            continue
        problems.append(f'{label}: {", ".join(service_wide)} on "Resource": "*" grants a whole service')
    return problems


_AWS_MANAGED_BROAD = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(?:[\w+=,.@-]+/)*(?:[\w+=,.@-]*FullAccess[\w+=,.@-]*|AdministratorAccess"
    r"|PowerUserAccess)$"
)
MANAGED_POLICY_ARN_PATHS: dict[str, tuple[str, ...]] = {
    IAM_ROLE_POLICY_ATTACHMENT: ("policyArn",),
    IAM_USER_POLICY_ATTACHMENT: ("policyArn",),
    IAM_GROUP_POLICY_ATTACHMENT: ("policyArn",),
    IAM_POLICY_ATTACHMENT: ("policyArn",),
    IAM_ROLE: ("managedPolicyArns",),
}


# --- SageMaker ---------------------------------------------------------------------------------------

# Instance types with local NVMe instance storage: SageMaker rejects a volume KMS key for them and encrypts
# the local storage itself. Families with a "d" suffix (m5d, c5d, g4dn, p4d, ...) plus these.
_NVME_FAMILIES = frozenset({"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n", "inf2"})
_NVME_FAMILY_SUFFIX = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")


def has_local_nvme_storage(instance_type: str) -> bool:
    parts = instance_type.split(".")
    if len(parts) < 3:
        return False
    family = parts[1]
    return family in _NVME_FAMILIES or bool(_NVME_FAMILY_SUFFIX.match(family))


def variants(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [v for v in items(props, "productionVariants") if isinstance(v, dict)]


def is_serverless_config(props: Mapping[str, Any]) -> bool:
    """A configuration whose every production variant is serverless (SageMaker cannot capture those)."""
    found = variants(props)
    return bool(found) and all(get(v, "serverlessConfig") is not None for v in found)


def _pipeline_instance_types(definition: Any) -> Iterator[tuple[str, str]]:
    """(step name, instance type) of every Training and Processing step, nested condition branches included."""
    if isinstance(definition, str):
        definition = json.loads(definition)
    pending = list(definition.get("Steps", []))
    while pending:
        step = pending.pop(0)
        arguments = step.get("Arguments", {})
        if step.get("Type") == "Training":
            yield step.get("Name", "?"), arguments.get("ResourceConfig", {}).get("InstanceType")
        elif step.get("Type") == "Processing":
            yield (
                step.get("Name", "?"),
                arguments.get("ProcessingResources", {}).get("ClusterConfig", {}).get("InstanceType"),
            )
        elif step.get("Type") == "Condition":
            pending += arguments.get("IfSteps", []) + arguments.get("ElseSteps", [])


# --- Resource policies -------------------------------------------------------------------------------

Check = Callable[[str, dict[str, Any], Mapping[str, Any]], Iterable[str]]


def _resource_policy(
    name: str,
    description: str,
    check: Check,
    *,
    severity: Severity = Severity.HIGH,
    config_schema: PolicyConfigSchema | None = None,
    config_defaults: Mapping[str, Any] | None = None,
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        config = {**(config_defaults or {}), **(args.get_config() or {})}
        try:
            for message in check(args.resource_type, plain(args.props), config):
                report_violation(message, None)
        except Unknown:
            return

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=severity,
        config_schema=config_schema,
    )


def check_kms_rotation(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type == KMS_KEY and not truthy(get(props, "enableKeyRotation") or False):
        yield "KMS key must rotate its key material: set enableKeyRotation = true"


def check_iam_wildcards(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    for document in policy_documents(resource_type, props):
        for problem in wildcard_grants(resource_type, document.document):
            yield f"{document.location}: {problem}"


def check_managed_full_access(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    prop = MANAGED_POLICY_ARN_PATHS.get(resource_type)
    if prop is None:
        return
    for arn in items(props, *prop):
        if isinstance(arn, str) and _AWS_MANAGED_BROAD.match(arn):
            yield (
                f"{prop[0]}: AWS managed policy {arn} grants far more than the stack needs; "
                "attach a least-privilege policy instead"
            )


def check_endpoint_capture(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != ENDPOINT_CONFIGURATION or is_serverless_config(props):
        return  # SageMaker does not support data capture on serverless endpoints
    capture = get(props, "dataCaptureConfig")
    if capture is None:
        yield "dataCaptureConfig is missing: the drift engine needs captured requests and responses"
        return
    if not truthy(get(capture, "enableCapture")):
        yield "dataCaptureConfig.enableCapture must be true"
    sampling = get(capture, "initialSamplingPercentage")
    if not isinstance(sampling, int | float) or sampling <= 0:
        yield f"dataCaptureConfig.initialSamplingPercentage = {sampling!r}: expected 1-100"
    modes = {get(option, "captureMode") for option in items(capture, "captureOptions")}
    missing = {"Input", "Output"} - modes
    if missing:
        yield f"dataCaptureConfig.captureOptions must capture Input and Output (missing {', '.join(sorted(missing))})"
    if not get(capture, "destinationS3Uri"):
        yield "dataCaptureConfig.destinationS3Uri is missing"


def check_endpoint_volume_encryption(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != ENDPOINT_CONFIGURATION or is_serverless_config(props):
        return  # serverless endpoints have no volume to encrypt, and SageMaker rejects a key for them
    types = [get(v, "instanceType") for v in variants(props)]
    if any(isinstance(t, str) and has_local_nvme_storage(t) for t in types):
        return  # SageMaker rejects a volume key for instance types with local NVMe storage
    if not get(props, "kmsKeyArn"):
        yield "kmsKeyArn is missing: the endpoint's ML storage volumes must be encrypted with the stack's key"


def check_training_encryption(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != TRAINING_JOB:
        return
    if not get(props, "outputDataConfig", "kmsKeyId"):
        yield "outputDataConfig.kmsKeyId is missing: model artifacts must be encrypted with the stack's key"
    instance_type = get(props, "resourceConfig", "instanceType")
    nvme = isinstance(instance_type, str) and has_local_nvme_storage(instance_type)
    if not nvme and not get(props, "resourceConfig", "volumeKmsKeyId"):
        yield "resourceConfig.volumeKmsKeyId is missing: the training volume must be encrypted with the stack's key"


def check_training_stopping_condition(
    resource_type: str, props: dict[str, Any], _config: Mapping[str, Any]
) -> Iterable[str]:
    if resource_type != TRAINING_JOB:
        return
    runtime = get(props, "stoppingCondition", "maxRuntimeInSeconds")
    if not isinstance(runtime, int | float) or runtime <= 0:
        yield "stoppingCondition.maxRuntimeInSeconds is missing: a runaway job would bill until someone stops it"
        return
    if truthy(get(props, "enableManagedSpotTraining") or False):
        wait = get(props, "stoppingCondition", "maxWaitTimeInSeconds")
        if not isinstance(wait, int | float) or wait < runtime:
            yield (
                f"stoppingCondition.maxWaitTimeInSeconds = {wait!r}: spot training needs it, "
                f"at least maxRuntimeInSeconds ({runtime})"
            )


DEFAULT_ALLOWED_INSTANCE_TYPES = ("ml.t2.medium", "ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge")


def _instance_types(resource_type: str, props: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if resource_type == TRAINING_JOB:
        yield "resourceConfig.instanceType", get(props, "resourceConfig", "instanceType")
        for index, group in enumerate(items(props, "resourceConfig", "instanceGroups")):
            yield f"resourceConfig.instanceGroups[{index}].instanceType", get(group, "instanceType")
    elif resource_type == ENDPOINT_CONFIGURATION:
        for prop in ("productionVariants", "shadowProductionVariants"):
            for index, variant in enumerate(items(props, prop)):
                yield f"{prop}[{index}].instanceType", get(variant, "instanceType")
    elif resource_type == PIPELINE:
        definition = get(props, "pipelineDefinition")
        if definition:
            for step, instance_type in _pipeline_instance_types(definition):
                yield f"pipelineDefinition step {step}", instance_type
    elif resource_type == DATA_QUALITY_JOB_DEFINITION:
        yield (
            "jobResources.clusterConfig.instanceType",
            get(props, "jobResources", "clusterConfig", "instanceType"),
        )


def check_instance_types(
    resource_type: str, props: dict[str, Any], config: Mapping[str, Any]
) -> Iterable[str]:
    allowed = set(config["allowedInstanceTypes"])
    for where, instance_type in _instance_types(resource_type, props):
        # Pipeline parameters ({"Get": ...}) and absent values (serverless variants) are not instance types.
        if isinstance(instance_type, str) and not is_unknown(instance_type) and instance_type not in allowed:
            yield f"{where} = {instance_type}: not in this stack's allow-list ({', '.join(sorted(allowed))})"


# --- Stack policies ----------------------------------------------------------------------------------


@dataclass
class StackResource:
    """A resource as the stack policies see it: plain props plus what other resources refer to it by."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    provider_type: str | None
    provider_name: str | None
    provider_props: dict[str, Any]
    dependency_urns: dict[str, set[str]] = field(default_factory=dict)

    @property
    def identities(self) -> set[str]:
        """Values a reference to this resource may hold: its id, physical name or ARN."""
        found = set()
        for prop in ("id", "name", "bucket", "arn", "alarmName", "endpointName"):
            value = self.props.get(prop)
            if isinstance(value, str) and value and not is_unknown(value):
                found.add(value)
        return found


def stack_resources(args: StackValidationArgs) -> list[StackResource]:
    found = []
    for resource in args.resources:
        provider = resource.provider
        found.append(
            StackResource(
                type=resource.resource_type,
                name=resource.name,
                urn=resource.urn,
                props=plain(resource.props),
                provider_type=provider.resource_type if provider else None,
                provider_name=provider.name if provider else None,
                provider_props=plain(provider.props) if provider else {},
                dependency_urns={
                    prop: {d.urn for d in deps} for prop, deps in resource.property_dependencies.items()
                },
            )
        )
    return found


_UNRESOLVED = object()


def referenced(
    resource: StackResource, prop: str, targets: Sequence[StackResource]
) -> StackResource | object | None:
    """The target `resource.prop` refers to, None if none, `_UNRESOLVED` if the reference is not known yet."""
    urns = resource.dependency_urns.get(prop, set())
    for target in targets:
        if target.urn in urns:
            return target
    value = resource.props.get(prop)
    if value is None:
        return None
    if is_unknown(value):
        return _UNRESOLVED
    for target in targets:
        if value in target.identities:
            return target
    return None


def attached(
    buckets: Sequence[StackResource], subresources: Sequence[StackResource], prop: str = "bucket"
) -> tuple[dict[str, list[StackResource]], bool]:
    """Sub-resources per bucket URN, and whether some sub-resource's bucket is not known yet."""
    by_bucket: dict[str, list[StackResource]] = {b.urn: [] for b in buckets}
    unresolved = False
    for sub in subresources:
        target = referenced(sub, prop, buckets)
        if target is _UNRESOLVED:
            unresolved = True
        elif isinstance(target, StackResource):
            by_bucket[target.urn].append(sub)
    return by_bucket, unresolved


StackCheck = Callable[[list[StackResource], Mapping[str, Any]], Iterable[tuple[str, str | None]]]


def _stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    *,
    severity: Severity = Severity.HIGH,
    config_schema: PolicyConfigSchema | None = None,
    config_defaults: Mapping[str, Any] | None = None,
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = {**(config_defaults or {}), **(args.get_config() or {})}
        for message, urn in check(stack_resources(args), config):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=severity,
        config_schema=config_schema,
    )


def of_type(resources: Sequence[StackResource], resource_type: str) -> list[StackResource]:
    return [r for r in resources if r.type == resource_type]


def _per_bucket(
    resources: list[StackResource],
    sub_type: str,
    what: str,
    problems_of: Callable[[StackResource], list[str]],
) -> Iterator[tuple[str, str | None]]:
    """For each bucket: a violation if no sub-resource of `sub_type` satisfies it, listing what was wrong."""
    buckets = of_type(resources, BUCKET)
    by_bucket, unresolved = attached(buckets, of_type(resources, sub_type))
    for bucket in buckets:
        subs = by_bucket[bucket.urn]
        if not subs:
            if not unresolved:
                yield f"bucket {bucket.name}: no {what} ({sub_type.split(':')[-1]})", bucket.urn
            continue
        reports = []
        for sub in subs:
            try:
                reports.append(problems_of(sub))
            except Unknown:
                reports.append([])
        if all(reports):
            details = "; ".join(p for report in reports for p in report)
            yield f"bucket {bucket.name}: {what} is not as required: {details}", bucket.urn


def _encryption_problems(config: StackResource) -> list[str]:
    rules = items(config.props, "rules")
    if not rules:
        return ["no rules"]
    problems = []
    for rule in rules:
        default = get(rule, "applyServerSideEncryptionByDefault") or {}
        algorithm = get(default, "sseAlgorithm")
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            problems.append(f"sseAlgorithm = {algorithm!r}, expected aws:kms")
        if not get(default, "kmsMasterKeyId"):
            problems.append("kmsMasterKeyId is missing (the stack's key, not the AWS managed key)")
        if not truthy(get(rule, "bucketKeyEnabled") or False):
            problems.append("bucketKeyEnabled must be true (one data key per bucket, far fewer KMS calls)")
    return problems


def check_bucket_encryption(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_ENCRYPTION, "SSE-KMS encryption configuration", _encryption_problems)


def _versioning_problems(versioning: StackResource) -> list[str]:
    status = get(versioning.props, "versioningConfiguration", "status")
    return [] if status == "Enabled" else [f"versioningConfiguration.status = {status!r}, expected Enabled"]


def check_bucket_versioning(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_VERSIONING, "versioning", _versioning_problems)


PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _public_access_problems(block: StackResource) -> list[str]:
    return [
        f"{flag} must be true" for flag in PUBLIC_ACCESS_FLAGS if not truthy(get(block.props, flag) or False)
    ]


def check_bucket_public_access(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_PUBLIC_ACCESS_BLOCK, "public access block", _public_access_problems)


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal != "*" and not (isinstance(principal, dict) and as_list(principal.get("AWS")) == ["*"]):
        return False
    if not {"s3:*", "*"} & set(as_list(statement.get("Action"))):
        return False
    condition = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    if str(condition).lower() != "false":
        return False
    resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
    # Both the bucket (ListBucket and friends) and its objects must be covered.
    return any(r.endswith("/*") for r in resources) and any(not r.endswith("/*") for r in resources)


def _tls_problems(policy: StackResource) -> list[str]:
    for document in policy_documents(BUCKET_POLICY, policy.props):
        if any(_denies_insecure_transport(s) for s in statements(document.document)):
            return []
    return [
        'no statement denies s3:* to Principal "*" on the bucket and its objects when '
        'aws:SecureTransport is "false"'
    ]


def check_bucket_tls_only(
    resources: list[StackResource], _config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    return _per_bucket(resources, BUCKET_POLICY, "TLS-only bucket policy", _tls_problems)


DRIFT_METRIC_NAMESPACES = ("Sagestack/ModelMonitoring", "aws/sagemaker/Endpoints/data-metrics")
ENDPOINT_DIMENSIONS = ("EndpointName", "Endpoint")


def _alarm_metrics(alarm: StackResource) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(namespace, dimensions) of an alarm's metric, or of each metric in its metric math."""
    if get(alarm.props, "metricName") is not None:
        yield get(alarm.props, "namespace"), get(alarm.props, "dimensions") or {}
    for query in items(alarm.props, "metricQueries"):
        metric = get(query, "metric")
        if metric is not None:
            yield get(metric, "namespace"), get(metric, "dimensions") or {}


def check_drift_alarms(
    resources: list[StackResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    namespaces = set(config["driftMetricNamespaces"])
    configs = of_type(resources, ENDPOINT_CONFIGURATION)
    alarms = of_type(resources, METRIC_ALARM)
    for endpoint in of_type(resources, ENDPOINT):
        try:
            endpoint_config = referenced(endpoint, "endpointConfigName", configs)
            if endpoint_config is _UNRESOLVED:
                continue
            if isinstance(endpoint_config, StackResource) and is_serverless_config(endpoint_config.props):
                continue  # serverless endpoints cannot capture traffic, so there is nothing to measure drift on
            names = endpoint.identities
            watched = False
            undecided = False
            for alarm in alarms:
                try:
                    for namespace, dimensions in _alarm_metrics(alarm):
                        if namespace not in namespaces:
                            continue
                        values = {dimensions.get(d) for d in ENDPOINT_DIMENSIONS} - {None}
                        if any(is_unknown(v) for v in values):
                            undecided = True
                        if values & names:
                            watched = True
                except Unknown:
                    undecided = True
            if not names:
                undecided = True
            if not watched and not undecided:
                yield (
                    (
                        f"endpoint {endpoint.name}: no CloudWatch alarm watches a drift metric "
                        f"({' or '.join(sorted(namespaces))}) with its name as dimension"
                    ),
                    endpoint.urn,
                )
        except Unknown:
            continue


def check_auto_rollback(
    resources: list[StackResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    """Every endpoint is deployed by an EndpointRollout whose UpdateEndpoint DeploymentConfig rolls back."""
    if not config["requireAutoRollback"]:
        return
    alarm_names = set()
    for alarm in of_type(resources, METRIC_ALARM):
        alarm_names |= {alarm.props.get("name"), alarm.props.get("alarmName")} - {None}
    rollouts = of_type(resources, ENDPOINT_ROLLOUT)
    for endpoint in of_type(resources, ENDPOINT):
        try:
            names = endpoint.identities
            rollout = next((r for r in rollouts if get(r.props, "endpoint_name") in names), None)
            if rollout is None:
                yield (
                    f"endpoint {endpoint.name}: no EndpointRollout deploys it (this stack requires auto-rollback)",
                    endpoint.urn,
                )
                continue
            yield from _rollback_problems(endpoint.name, rollout, alarm_names)
        except Unknown:
            continue


def _rollback_problems(
    endpoint: str, rollout: StackResource, alarm_names: set[Any]
) -> Iterable[tuple[str, str | None]]:
    deployment = get(rollout.props, "deployment_config")
    if deployment is None:
        yield f"endpoint {endpoint}: its rollout has no deployment_config", rollout.urn
        return
    if get(deployment, "BlueGreenUpdatePolicy") is None and get(deployment, "RollingUpdatePolicy") is None:
        yield (
            f"endpoint {endpoint}: deployment_config has neither BlueGreenUpdatePolicy nor RollingUpdatePolicy",
            rollout.urn,
        )
    rollback_alarms = items(deployment, "AutoRollbackConfiguration", "Alarms")
    if not rollback_alarms:
        yield (
            f"endpoint {endpoint}: deployment_config.AutoRollbackConfiguration.Alarms is empty: "
            "a bad deployment would not roll back",
            rollout.urn,
        )
    for alarm in rollback_alarms:
        name = get(alarm, "AlarmName")
        if isinstance(name, str) and alarm_names and name not in alarm_names:
            yield f"endpoint {endpoint}: rollback alarm {name!r} is not an alarm of this stack", rollout.urn


REQUIRED_TAGS = ("project", "stack", "owner", "cost-centre")


def provider_default_tags(provider_props: Mapping[str, Any]) -> dict[str, Any]:
    """An aws provider's defaultTags.tags; the engine may hand provider config over as a JSON string."""
    default_tags = known(provider_props.get("defaultTags"))
    if isinstance(default_tags, str):
        default_tags = json.loads(default_tags) if default_tags else {}
    tags = known((default_tags or {}).get("tags"))
    if isinstance(tags, str):
        tags = json.loads(tags) if tags else {}
    return dict(tags or {})


def check_required_tags(
    resources: list[StackResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str | None]]:
    required = list(config["requiredTags"])
    reported_providers: set[str] = set()
    for resource in resources:
        if not resource.type.startswith("aws:"):
            continue
        if resource.provider_type != AWS_PROVIDER or (resource.provider_name or "").startswith("default"):
            yield (
                (
                    f"{resource.type} {resource.name}: uses the default aws provider, which sets no default tags; "
                    "pass the stack's explicit provider"
                ),
                resource.urn,
            )
            continue
        try:
            tags = provider_default_tags(resource.provider_props)
        except Unknown:
            continue
        missing = [t for t in required if not isinstance(tags.get(t), str) or not tags[t].strip()]
        if missing and resource.provider_name not in reported_providers:
            reported_providers.add(resource.provider_name or "")
            yield (
                (
                    f"aws provider {resource.provider_name}: defaultTags.tags lacks {', '.join(missing)} "
                    f"(used by {resource.type} {resource.name} and others)"
                ),
                resource.urn,
            )


# --- The policies ------------------------------------------------------------------------------------

ALLOW_LIST_SCHEMA = PolicyConfigSchema(
    properties={
        "allowedInstanceTypes": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "SageMaker instance types this stack may launch (training, endpoints, pipelines)",
            "default": list(DEFAULT_ALLOWED_INSTANCE_TYPES),
        }
    }
)
AUTO_ROLLBACK_SCHEMA = PolicyConfigSchema(
    properties={
        "requireAutoRollback": {
            "type": "boolean",
            "default": False,
            "description": "Require every endpoint to deploy blue/green or rolling with auto-rollback alarms",
        }
    }
)
DRIFT_SCHEMA = PolicyConfigSchema(
    properties={
        "driftMetricNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "default": list(DRIFT_METRIC_NAMESPACES),
            "description": "CloudWatch namespaces whose metrics count as drift metrics",
        }
    }
)
TAGS_SCHEMA = PolicyConfigSchema(
    properties={
        "requiredTags": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(REQUIRED_TAGS),
            "description": "Tag keys the aws provider's defaultTags must carry",
        }
    }
)

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    _resource_policy(
        "kms-key-rotation", "Every KMS key rotates its key material yearly.", check_kms_rotation
    ),
    _resource_policy(
        "iam-no-wildcard-actions",
        'No IAM or resource policy allows "Action": "*", NotAction, or a service-wide "svc:*" on "Resource": "*" '
        "(except the account-root key-admin statement of a key policy).",
        check_iam_wildcards,
        severity=Severity.CRITICAL,
    ),
    _resource_policy(
        "iam-no-managed-full-access",
        "No AWS managed *FullAccess, AdministratorAccess or PowerUserAccess policy is attached.",
        check_managed_full_access,
        severity=Severity.CRITICAL,
    ),
    _resource_policy(
        "sagemaker-endpoint-config-data-capture",
        "Every non-serverless endpoint configuration captures requests and responses.",
        check_endpoint_capture,
    ),
    _resource_policy(
        "sagemaker-endpoint-config-volume-encryption",
        "Every endpoint configuration encrypts its volumes with a KMS key (where AWS allows one).",
        check_endpoint_volume_encryption,
    ),
    _resource_policy(
        "sagemaker-training-job-encryption",
        "Every training job encrypts its output and its volume with a KMS key.",
        check_training_encryption,
    ),
    _resource_policy(
        "sagemaker-training-job-stopping-condition",
        "Every training job has a stopping condition (and a spot wait at least as long).",
        check_training_stopping_condition,
        severity=Severity.MEDIUM,
    ),
    _resource_policy(
        "sagemaker-instance-type-allow-list",
        "SageMaker instance types come from the stack's allow-list.",
        check_instance_types,
        severity=Severity.MEDIUM,
        config_schema=ALLOW_LIST_SCHEMA,
        config_defaults={"allowedInstanceTypes": list(DEFAULT_ALLOWED_INSTANCE_TYPES)},
    ),
]

STACK_POLICIES: list[StackValidationPolicy] = [
    _stack_policy(
        "s3-bucket-kms-encryption",
        "Every bucket has a default SSE-KMS encryption rule with the stack's key and a bucket key.",
        check_bucket_encryption,
    ),
    _stack_policy("s3-bucket-versioning", "Every bucket has versioning Enabled.", check_bucket_versioning),
    _stack_policy(
        "s3-bucket-public-access-block",
        "Every bucket blocks public access with all four flags.",
        check_bucket_public_access,
        severity=Severity.CRITICAL,
    ),
    _stack_policy(
        "s3-bucket-tls-only", "Every bucket's policy denies requests without TLS.", check_bucket_tls_only
    ),
    _stack_policy(
        "sagemaker-endpoint-drift-alarm",
        "Every endpoint that can capture traffic has a CloudWatch alarm on its drift metric.",
        check_drift_alarms,
        severity=Severity.MEDIUM,
        config_schema=DRIFT_SCHEMA,
        config_defaults={"driftMetricNamespaces": list(DRIFT_METRIC_NAMESPACES)},
    ),
    _stack_policy(
        "sagemaker-endpoint-auto-rollback",
        "Where the stack's pack config asks, every endpoint deploys with auto-rollback alarms.",
        check_auto_rollback,
        config_schema=AUTO_ROLLBACK_SCHEMA,
        config_defaults={"requireAutoRollback": False},
    ),
    _stack_policy(
        "aws-required-tags",
        "Every aws resource uses an explicit provider whose defaultTags carry the required tags.",
        check_required_tags,
        severity=Severity.MEDIUM,
        config_schema=TAGS_SCHEMA,
        config_defaults={"requiredTags": list(REQUIRED_TAGS)},
    ),
]

POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
