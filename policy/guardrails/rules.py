"""The registry: every guardrail of the pack, with its name, description, severity and config schema.

The checks live in one module per concern (storage, iam, sagemaker, alarms, tags); adapters.py turns them
into pulumi-policy objects. `__main__.py` serves `POLICIES` as a mandatory pack; tests call each policy's
`validate` directly (tests/policy/pack_runner.py), so the rules run in CI without the Pulumi CLI.
"""

from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ResourceValidationPolicy, Severity, StackValidationPolicy

from .adapters import resource_policy, stack_policy
from .alarms import DRIFT_METRIC_NAMESPACES, check_auto_rollback, check_drift_alarms
from .iam import (
    DEFAULT_UNSCOPABLE_ACTIONS,
    check_iam_wildcards,
    check_identity_resource_star,
    check_managed_full_access,
)
from .sagemaker import (
    DEFAULT_ALLOWED_INSTANCE_TYPES,
    check_endpoint_capture,
    check_endpoint_volume_encryption,
    check_instance_types,
    check_training_encryption,
    check_training_stopping_condition,
)
from .storage import (
    check_bucket_encryption,
    check_bucket_noncurrent_version_expiry,
    check_bucket_owner_enforced,
    check_bucket_public_access,
    check_bucket_tls_only,
    check_bucket_versioning,
    check_kms_rotation,
)
from .tags import REQUIRED_TAGS, check_required_tags

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
UNSCOPABLE_SCHEMA = PolicyConfigSchema(
    properties={
        "unscopableActions": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "default": dict(DEFAULT_UNSCOPABLE_ACTIONS),
            "description": 'Actions an identity policy may grant on "Resource": "*" (AWS has no resource to '
            'scope them to), each with the condition key that must scope it instead ("" for none)',
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
    resource_policy("kms-key-rotation", "Every KMS key rotates its key material yearly.", check_kms_rotation),
    resource_policy(
        "iam-no-wildcard-actions",
        'No IAM or resource policy allows "Action": "*", NotAction, or a service-wide "svc:*" on "Resource": "*" '
        "(except the account-root key-admin statement of a key policy).",
        check_iam_wildcards,
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "iam-resource-star-only-where-unscopable",
        'Identity policies grant on "Resource": "*" only actions AWS cannot scope to a resource, each with the '
        "condition that scopes it where AWS offers one.",
        check_identity_resource_star,
        config_schema=UNSCOPABLE_SCHEMA,
    ),
    resource_policy(
        "iam-no-managed-full-access",
        "No AWS managed *FullAccess, AdministratorAccess or PowerUserAccess policy is attached.",
        check_managed_full_access,
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "sagemaker-endpoint-config-data-capture",
        "Every non-serverless endpoint configuration captures requests and responses.",
        check_endpoint_capture,
    ),
    resource_policy(
        "sagemaker-endpoint-config-volume-encryption",
        "Every endpoint configuration encrypts its volumes with a KMS key (where AWS allows one).",
        check_endpoint_volume_encryption,
    ),
    resource_policy(
        "sagemaker-training-job-encryption",
        "Every training job encrypts its output and its volume with a KMS key.",
        check_training_encryption,
    ),
    resource_policy(
        "sagemaker-training-job-stopping-condition",
        "Every training job has a stopping condition (and a spot wait at least as long).",
        check_training_stopping_condition,
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "sagemaker-instance-type-allow-list",
        "SageMaker instance types come from the stack's allow-list.",
        check_instance_types,
        severity=Severity.MEDIUM,
        config_schema=ALLOW_LIST_SCHEMA,
    ),
]

STACK_POLICIES: list[StackValidationPolicy] = [
    stack_policy(
        "s3-bucket-kms-encryption",
        "Every bucket has a default SSE-KMS encryption rule with the stack's key and a bucket key.",
        check_bucket_encryption,
    ),
    stack_policy("s3-bucket-versioning", "Every bucket has versioning Enabled.", check_bucket_versioning),
    stack_policy(
        "s3-bucket-public-access-block",
        "Every bucket blocks public access with all four flags.",
        check_bucket_public_access,
        severity=Severity.CRITICAL,
    ),
    stack_policy(
        "s3-bucket-owner-enforced",
        "Every bucket disables ACLs: its ownership controls say BucketOwnerEnforced.",
        check_bucket_owner_enforced,
    ),
    stack_policy(
        "s3-bucket-noncurrent-version-expiry",
        "Every bucket's lifecycle expires noncurrent versions, so versioning does not keep them forever.",
        check_bucket_noncurrent_version_expiry,
        severity=Severity.MEDIUM,
    ),
    stack_policy(
        "s3-bucket-tls-only", "Every bucket's policy denies requests without TLS.", check_bucket_tls_only
    ),
    stack_policy(
        "sagemaker-endpoint-drift-alarm",
        "Every endpoint that can capture traffic has a CloudWatch alarm on its drift metric.",
        check_drift_alarms,
        severity=Severity.MEDIUM,
        config_schema=DRIFT_SCHEMA,
    ),
    stack_policy(
        "sagemaker-endpoint-auto-rollback",
        "Where the stack's pack config asks, every endpoint deploys with auto-rollback alarms.",
        check_auto_rollback,
        config_schema=AUTO_ROLLBACK_SCHEMA,
    ),
    stack_policy(
        "aws-required-tags",
        "Every aws resource uses an explicit provider whose defaultTags carry the required tags.",
        check_required_tags,
        severity=Severity.MEDIUM,
        config_schema=TAGS_SCHEMA,
    ),
]

POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
