"""Promote a registered model to a stack: pin its package ARN in Pulumi.<stack>.yaml, lineage as comments.

    python -m infra.promote --stack prod --package-arn arn:aws:sagemaker:...:model-package/<group>/<n>
    python -m infra.promote --stack prod --latest-approved-in <group name or ARN> --region eu-west-1

Only an Approved package is pinned. Beside the pin go the bucket and KMS key that hold the package's model
(read from its ModelDataUrl and the object's SSE-KMS key), so a stack in another account or of another stack
grants its roles read on exactly those. The file change is the whole promotion: commit it on a branch and
open a pull request; its preview shows exactly what the stack will deploy, and the comments say where the
model came from.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra import lineage as keys
from infra.arn_patterns import (
    KMS_KEY_ARN,
    MODEL_PACKAGE_ARN,
    MODEL_PACKAGE_GROUP_ARN,
    MODEL_PACKAGE_GROUP_NAME,
)

PIN_KEY = "sagestack:approvedModelPackageArn"
BUCKET_KEY = "sagestack:modelArtifactsBucket"
KEY_ARN_KEY = "sagestack:modelArtifactsKeyArn"
MODELS_PREFIX = "models/"  # the only prefix a producer stack shares (infra/iam.py, MODELS_PREFIX)
LINEAGE_MARK = "# promoted model:"


class PromotionError(ValueError):
    pass


def latest_approved(sagemaker: Any, group: str) -> str:
    """The newest Approved version in a model package group (a name, or an ARN for another account's)."""
    if not (MODEL_PACKAGE_GROUP_ARN.fullmatch(group) or MODEL_PACKAGE_GROUP_NAME.fullmatch(group)):
        raise PromotionError(f"--latest-approved-in {group!r}: expected a model package group name or ARN")
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    )
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            if summary.get("ModelApprovalStatus") == "Approved":
                return str(summary["ModelPackageArn"])
    raise PromotionError(f"model package group {group} has no Approved version")


def package_region(package_arn: str) -> str:
    """The region of a versioned model package ARN; anything else is refused before a client is made."""
    parts = MODEL_PACKAGE_ARN.fullmatch(package_arn)
    if parts is None:
        raise PromotionError(
            f"--package-arn {package_arn!r}: expected a versioned model package ARN "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
        )
    return parts["region"]


def approved_package(sagemaker: Any, package_arn: str) -> dict[str, Any]:
    package_region(package_arn)
    package = dict(sagemaker.describe_model_package(ModelPackageName=package_arn))
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise PromotionError(f"{package_arn} is {status}, not Approved: approve it in the registry first")
    return package


def model_artifacts(s3: Any, package: Mapping[str, Any]) -> tuple[str, str]:
    """The bucket and the KMS key ARN of the package's model, as the pinned stack's roles must read them."""
    arn = package["ModelPackageArn"]
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    urls = [c["ModelDataUrl"] for c in containers if c.get("ModelDataUrl")]
    if len(urls) != 1:
        raise PromotionError(f"{arn} has {len(urls)} model artifacts: expected exactly one ModelDataUrl")
    bucket, _, key = urls[0].removeprefix("s3://").partition("/")
    if not urls[0].startswith("s3://") or not key.startswith(MODELS_PREFIX):
        raise PromotionError(
            f"{arn}: ModelDataUrl {urls[0]} is not under s3://<bucket>/{MODELS_PREFIX}, the only prefix a "
            "producer stack shares"
        )
    # HeadObject reports the object's SSE-KMS key as its ARN (S3 API reference, HeadObject SSEKMSKeyId).
    head = s3.head_object(Bucket=bucket, Key=key)
    key_arn = head.get("SSEKMSKeyId", "")
    if head.get("ServerSideEncryption") != "aws:kms" or not KMS_KEY_ARN.fullmatch(key_arn):
        raise PromotionError(
            f"{urls[0]} is encrypted with {head.get('ServerSideEncryption')!r} key {key_arn!r}: expected SSE-KMS "
            "with a key ARN (the producer stack's key)"
        )
    return bucket, key_arn


def lineage(package: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a reviewer needs to know about a package, in a fixed order; absent facts are said to be so."""
    containers = package.get("InferenceSpecification", {}).get("Containers", [{}])
    container = containers[0] if containers else {}
    custom = package.get("CustomerMetadataProperties", {})
    metadata = package.get("MetadataProperties", {})
    metrics = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    created = package.get("CreationTime")
    facts = [
        ("package", str(package["ModelPackageArn"])),
        (
            "approved",
            f"{package.get('ModelApprovalStatus')}, created {created:%Y-%m-%d %H:%M} UTC" if created else "",
        ),
        ("model data", container.get("ModelDataUrl", "")),
        ("image", container.get("Image", "")),
        ("training job", custom.get(keys.TRAINING_JOB, "")),
        ("training data", custom.get(keys.DATA, "")),
        ("code archive", custom.get(keys.CODE_SHA256, "")),
        ("hyperparameters", custom.get(keys.HYPERPARAMETERS, "")),
        ("validation", custom.get(keys.VALIDATION_METRICS, "")),
        ("evaluation report", metrics.get("S3Uri", "")),
        ("git commit", metadata.get("CommitId") or custom.get(keys.GIT_COMMIT, "")),
    ]
    return [(label, value or "(not recorded)") for label, value in facts]


def pin(stack_file: str, package_arn: str, facts: list[tuple[str, str]], artifacts: tuple[str, str]) -> str:
    """The stack file with the pin and its model's bucket and key set (replacing an earlier pin, its
    lineage and location), everything else kept."""
    lines = stack_file.splitlines()
    kept: list[str] = []
    skipping_lineage = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(LINEAGE_MARK):
            skipping_lineage = True
            continue
        if skipping_lineage and stripped.startswith("#   "):
            continue
        skipping_lineage = False
        if stripped.startswith((f"{PIN_KEY}:", f"{BUCKET_KEY}:", f"{KEY_ARN_KEY}:")):
            continue
        kept.append(line)
    try:
        config_at = next(i for i, line in enumerate(kept) if line.rstrip() == "config:")
    except StopIteration as missing:
        raise PromotionError("the stack file has no top-level `config:` section") from missing
    indent = "  "
    block = [f"{indent}{LINEAGE_MARK}"]
    block += [f"{indent}#   {label}: {value}" for label, value in facts]
    block.append(f"{indent}{PIN_KEY}: {package_arn}")
    block.append(f"{indent}{BUCKET_KEY}: {artifacts[0]}")
    block.append(f"{indent}{KEY_ARN_KEY}: {artifacts[1]}")
    end = config_at + 1
    while end < len(kept) and (kept[end].startswith(indent) or not kept[end].strip()):
        end += 1
    return "\n".join(kept[:end] + block + kept[end:]) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.promote", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack to promote to (Pulumi.<stack>.yaml)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--package-arn", help="a versioned model package ARN")
    source.add_argument(
        "--latest-approved-in", metavar="GROUP", help="the newest Approved version of a group"
    )
    parser.add_argument("--region", help="the registry's region (default: the package ARN's)")
    return parser


def main(
    argv: list[str] | None = None, sagemaker: Any = None, root: Path | None = None, s3: Any = None
) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    stack_path = (root or Path(__file__).resolve().parents[1]) / f"Pulumi.{args.stack}.yaml"
    if not stack_path.is_file():
        parser.error(f"--stack {args.stack!r}: there is no {stack_path.name}")
    try:
        from_arn = None if args.package_arn is None else package_region(args.package_arn)
        region = args.region or from_arn
        if sagemaker is None:
            if not region:
                parser.error("--region is required with --latest-approved-in")
            import boto3

            sagemaker = boto3.client("sagemaker", region_name=region)
        if s3 is None:
            import boto3

            s3 = boto3.client("s3", region_name=region)
        arn = (
            args.package_arn
            if args.package_arn is not None
            else latest_approved(sagemaker, args.latest_approved_in)
        )
        package = approved_package(sagemaker, arn)
        facts, artifacts = lineage(package), model_artifacts(s3, package)
    except PromotionError as error:
        print(f"promote: {error}", file=sys.stderr)
        return 2
    stack_path.write_text(pin(stack_path.read_text(), arn, facts, artifacts))
    print(f"pinned {arn} in {stack_path.name}:")
    for label, value in [*facts, ("model bucket", artifacts[0]), ("model key", artifacts[1])]:
        print(f"  {label:>17}: {value}")
    print(
        f"next: git switch -c promote-{args.stack} && git commit -am 'promote to {args.stack}' && open a PR"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
