"""Storage: the stack's KMS key and its three buckets (data, artifacts, captured traffic)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam, iam_sharing, key_policy
from infra.packaging import Archive
from infra.settings_types import StorageSettings

BUCKET_PURPOSES = ("data", "artifacts", "capture")


@dataclass(frozen=True)
class StorageArgs:
    base_name: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: str
    settings: StorageSettings
    dns_suffix: pulumi.Input[str]  # the partition's, for kms:ViaService values
    # Accounts whose stacks serve this stack's models: read on models/, decrypt through S3 (infra/iam_sharing.py).
    model_consumer_accounts: tuple[str, ...] = ()
    # The drift scale-out's state machine, encrypted with the stack key, logs through the delivery service.
    encrypted_state_machine_logs: bool = False


def bucket_name(base_name: str, purpose: str, account_id: str, region: str) -> str:
    """Globally unique and stack-scoped: S3 names are shared by every account in the partition."""
    return f"{base_name}-{purpose}-{account_id}-{region}"


def code_key(archive: Archive, unit: str) -> str:
    """Where a code archive lives in the artifacts bucket: code/<unit>/<hash>/<file name>."""
    return archive.key(f"{iam.CODE_PREFIX}/{unit}")


def upload_code(
    name: str,
    *,
    archive: Archive,
    unit: str,
    bucket: pulumi.Input[str],
    parent: pulumi.Resource,
    aliases: Sequence[pulumi.Alias] = (),
) -> aws.s3.BucketObjectv2:
    return aws.s3.BucketObjectv2(
        name,
        aws.s3.BucketObjectv2Args(
            bucket=bucket,
            key=code_key(archive, unit),
            source=pulumi.FileAsset(str(archive.path)),
            content_type="application/zip" if archive.path.suffix == ".zip" else "application/gzip",
        ),
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )


def object_uri(stored: aws.s3.BucketObjectv2) -> pulumi.Output[str]:
    """s3://bucket/key of an uploaded object; using it makes a consumer wait for the upload."""
    return pulumi.Output.format("s3://{0}/{1}", stored.bucket, stored.key)


def bucket_policy(
    bucket_arn: pulumi.Output[str], grants: Callable[[pulumi.Output[str]], list[iam.Statement]] | None
) -> dict[str, Any]:
    return iam.with_statements(iam.tls_only_bucket_policy(bucket_arn), grants(bucket_arn) if grants else [])


class Bucket(pulumi.ComponentResource):
    """A private, KMS-encrypted, versioned, TLS-only bucket with expiring old versions."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        bucket: pulumi.Input[str],
        key_arn: pulumi.Input[str],
        settings: StorageSettings,
        expire_current_after_days: int | None,
        grants: Callable[[pulumi.Output[str]], list[iam.Statement]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`grants` adds bucket policy statements, given the bucket's ARN, beside the TLS-only deny."""
        super().__init__("sagestack:storage:Bucket", name, None, opts)
        stateful = pulumi.ResourceOptions(
            parent=self, protect=settings.protect, retain_on_delete=settings.protect
        )
        child = pulumi.ResourceOptions(parent=self)

        created = aws.s3.Bucket(
            name,
            aws.s3.BucketArgs(bucket=bucket, force_destroy=settings.force_destroy and not settings.protect),
            opts=stateful,
        )
        blocked = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            aws.s3.BucketPublicAccessBlockArgs(
                bucket=created.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
            ),
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                bucket=created.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=created.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms", kms_master_key_id=key_arn
                        )
                    ),
                    bucket_key_enabled=True,  # one data key per bucket, not per object: fewer KMS calls
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=created.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        # S3 rejects a policy while the public-access block is being changed; order them.
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            aws.s3.BucketPolicyArgs(
                bucket=created.id, policy=iam.document_json(bucket_policy(created.arn, grants))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blocked]),
        )
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=settings.noncurrent_version_retention_days
                ),
                abort_incomplete_multipart_upload=(
                    aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    )
                ),
            ),
        ]
        if expire_current_after_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-objects",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=expire_current_after_days
                    ),
                )
            )
        # Lifecycle rules on noncurrent versions need versioning switched on first.
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(bucket=created.id, rules=rules),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

        self.name = created.bucket
        self.arn = created.arn
        self.register_outputs({"name": self.name, "arn": self.arn})


class Storage(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]
    data: Bucket
    artifacts: Bucket
    capture: Bucket

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sagestack:storage:Storage", name, None, opts)
        settings = args.settings

        def physical_name(purpose: str) -> pulumi.Output[str]:
            return pulumi.Output.from_input(args.account_id).apply(
                lambda account: bucket_name(args.base_name, purpose, account, args.region)
            )

        consumers = None
        if args.model_consumer_accounts:
            consumers = iam_sharing.ModelConsumers(
                accounts=args.model_consumer_accounts,
                partition=args.partition,
                region=args.region,
                dns_suffix=args.dns_suffix,
                # Known before the bucket exists: the key that encrypts it names it in its policy.
                artifacts_bucket_arn=pulumi.Output.format(
                    "arn:{0}:s3:::{1}", args.partition, physical_name("artifacts")
                ),
            )
        key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description=f"{args.base_name}: data, models, captured traffic, alarms and logs",
                enable_key_rotation=True,
                deletion_window_in_days=settings.kms_deletion_window_days,
                policy=iam.document_json(
                    key_policy.key_policy(
                        account_id=args.account_id,
                        partition=args.partition,
                        region=args.region,
                        principals=key_policy.KeyPolicyPrincipals(
                            cloudwatch=iam.service_principal("cloudwatch", args.region, parent=self),
                            logs_regional=iam.regional_service_principal("logs", args.region, parent=self),
                            log_delivery=(
                                iam.service_principal("delivery.logs", args.region, parent=self)
                                if args.encrypted_state_machine_logs
                                else None
                            ),
                        ),
                        consumers=consumers,
                    )
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, protect=settings.protect, retain_on_delete=settings.protect
            ),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            aws.kms.AliasArgs(name=f"alias/{args.base_name}", target_key_id=key.key_id),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key_arn = key.arn

        def bucket(
            purpose: str,
            expire_after: int | None,
            grants: Callable[[pulumi.Output[str]], list[iam.Statement]] | None = None,
        ) -> Bucket:
            return Bucket(
                f"{name}-{purpose}",
                bucket=physical_name(purpose),
                key_arn=key.arn,
                settings=settings,
                expire_current_after_days=expire_after,
                grants=grants,
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.data = bucket("data", None)
        self.artifacts = bucket(
            "artifacts",
            None,
            (lambda arn: iam_sharing.consumer_model_read_statements(consumers, arn)) if consumers else None,
        )
        self.capture = bucket("capture", settings.capture_retention_days)
        self.register_outputs(
            {
                "key_arn": self.key_arn,
                "data_bucket": self.data.name,
                "artifacts_bucket": self.artifacts.name,
                "capture_bucket": self.capture.name,
            }
        )
