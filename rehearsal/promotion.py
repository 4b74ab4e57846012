"""Build once, promote everywhere, on the emulator: register, pin, serve the package, roll back.

The trained model is registered in the stack's registry with its lineage (as the retraining pipeline registers
candidates), an older model is registered before it, `infra.promote` pins the newest Approved version into a
temporary copy of the target stack's Pulumi.<stack>.yaml, and the target's endpoint serves the package as a
pinned stack does (a Model naming the package, its ARN as model version).
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pandas as pd

from infra import lineage, promote, retraining_pipeline, serving
from infra.config_schema import PROJECT_ROOT, load_stack_config
from infra.settings import settings_from_values
from infra.settings_types import Settings
from rehearsal import emulator

EVALUATION_MEMBER = "evaluation.json"
BASELINE_MEMBER = "baseline.json"


@dataclass(frozen=True)
class Registered:
    arn: str
    model_data_url: str


def _sagemaker() -> Any:
    return boto3.client("sagemaker")


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as source:
        return {
            m.name.removeprefix("./"): source.extractfile(m).read()  # type: ignore[union-attr]
            for m in source.getmembers()
            if m.isfile()
        }


def _pack(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as target:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def older_model(model_archive: Path, older_training_features: pd.DataFrame) -> bytes:
    """The model artifact as an older model left it: its baseline from the data that model was trained on."""
    import baseline  # training/ ships as a flat script folder (rehearsal/run.py puts it on sys.path)

    members = _members(model_archive)
    current = json.loads(members[BASELINE_MEMBER])
    document = baseline.compute_baseline(older_training_features, [0.5])  # prediction part replaced below
    document["prediction"] = current["prediction"]
    members[BASELINE_MEMBER] = (json.dumps(document, indent=2) + "\n").encode()
    return _pack(members)


def register(
    *,
    s3: Any,
    group: str,
    model_data_url: str,
    model_archive: bytes,
    lineage_tags: dict[str, str],
    metrics: dict[str, float],
    evaluation_uri: str,
    region: str,
) -> Registered:
    """Upload the artifact and its evaluation report, register the package with its lineage, approve it."""
    bucket, key = model_data_url.removeprefix("s3://").split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=model_archive)
    report = _members_from_bytes(model_archive)[EVALUATION_MEMBER]
    report_bucket, report_key = evaluation_uri.removeprefix("s3://").split("/", 1)
    s3.put_object(Bucket=report_bucket, Key=report_key, Body=report)
    properties = {**lineage_tags, lineage.VALIDATION_METRICS: lineage.assignments(metrics)}
    sm = _sagemaker()
    arn = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": lineage_tags[lineage.IMAGE],
                    "ModelDataUrl": model_data_url,
                    # As the retraining pipeline registers it: the code is read from inside model.tar.gz.
                    "Environment": serving.package_environment(region=region),
                }
            ],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        CustomerMetadataProperties=lineage.check(properties),
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": retraining_pipeline.EVALUATION_CONTENT_TYPE,
                    "S3Uri": evaluation_uri,
                }
            }
        },
    )["ModelPackageArn"]
    # The reviewer's approval in the registry, after which promotion is allowed. The properties are passed
    # again: moto's update_model_package replaces them with None when omitted (AWS adds or updates the given ones).
    sm.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", CustomerMetadataProperties=properties
    )
    return Registered(str(arn), model_data_url)


def _members_from_bytes(archive: bytes) -> dict[str, bytes]:
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as handle:
        handle.write(archive)
        handle.flush()
        return _members(Path(handle.name))


def promote_to(
    target: str, group: str, work: Path, stack_files: Path = PROJECT_ROOT
) -> tuple[Settings, str, str]:
    """`python -m infra.promote --stack <target> --latest-approved-in <group>` on a temporary copy of the
    target's stack file; returns the target's settings read back from the pinned file, the pin and the file."""
    root = work / "promoted-stack"
    root.mkdir(exist_ok=True)
    for name in ("Pulumi.yaml", f"Pulumi.{target}.yaml"):
        shutil.copyfile(stack_files / name, root / name)
    argv = ["--stack", target, "--latest-approved-in", group]
    with io.StringIO() as out:
        from contextlib import redirect_stdout

        with redirect_stdout(out):
            code = promote.main(argv, sagemaker=_sagemaker(), root=root)
    if code != 0:
        raise RuntimeError(f"infra.promote {' '.join(argv)} exited with {code}")
    config = load_stack_config(target, root=root)
    settings = settings_from_values(target, config.region, config.values, config.pulumi_config())
    arn = settings.serving.approved_model_package_arn
    if not arn:
        raise RuntimeError(f"the pinned Pulumi.{target}.yaml does not pin a model package")
    return settings, arn, (root / f"Pulumi.{target}.yaml").read_text()


def serve_package(settings: Settings, package_arn: str) -> str:
    """The target stack's endpoint on a Model that names the package, as serving.py declares a pinned stack."""
    sm, base = _sagemaker(), settings.base_name
    model = serving.model_name(base, [package_arn])
    # No environment of its own beside the package's (CreateModel refuses both: aws/sagemaker-python-sdk#3397).
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=f"arn:aws:iam::{emulator.MOTO_ACCOUNT_ID}:role/{base}-sagemaker-execution",
        PrimaryContainer={"ModelPackageName": package_arn},
    )
    return _point_endpoint(settings, model)


def _point_endpoint(settings: Settings, model: str) -> str:
    sm = _sagemaker()
    config = f"{model}-config"
    if not any(c["EndpointConfigName"] == config for c in sm.list_endpoint_configs()["EndpointConfigs"]):
        sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": serving.VARIANT_NAME,
                    "ModelName": model,
                    "InstanceType": settings.serving.instance_type,
                    "InitialInstanceCount": 1,
                }
            ],
        )
    endpoint = serving.endpoint_name(settings.base_name)
    if any(e["EndpointName"] == endpoint for e in sm.list_endpoints()["Endpoints"]):
        sm.delete_endpoint(EndpointName=endpoint)  # moto has no UpdateEndpoint
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    return endpoint
