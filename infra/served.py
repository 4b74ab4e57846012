"""What an endpoint serves now, on one screen: model version, lineage, approval, evaluation, baseline.

    python -m infra.served --stack prod
    python -m infra.served --endpoint sagestack-prod-endpoint --region eu-west-1

It follows the same endpoint -> configuration -> model -> package walk as the drift engine
(monitoring/served_model.py), so what it prints is the model drift is measured against.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra import lineage as keys
from infra.promote import lineage as package_lineage
from infra.serving import VARIANT_NAME, endpoint_name
from monitoring.served_model import ServedModel, ServedModelError, served_model
from training import contract

EVALUATION_MEMBER = "evaluation.json"
REPORTED_METRICS = ("auc", "accuracy", "f1", "precision", "recall")
NOT_RECORDED = "(not recorded)"
LABEL_WIDTH = 19  # the longest label, "evaluation report", and a gap


@dataclass(frozen=True)
class ServedReport:
    endpoint: str
    served: ServedModel
    facts: list[tuple[str, str]]
    evaluation_source: str
    evaluation: dict[str, Any] | None
    evaluation_error: str = ""


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _evaluation_in_artifact(s3: Any, model_data_url: str) -> dict[str, Any]:
    """evaluation.json from inside model.tar.gz (train.py writes it beside the model)."""
    bucket, key = _split_s3(model_data_url)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.removeprefix("./") == EVALUATION_MEMBER:
                stream = archive.extractfile(member)
                assert stream is not None
                return dict(json.load(stream))
    raise ValueError(f"{model_data_url} has no {EVALUATION_MEMBER} (trained before lineage was recorded)")


def _evaluation_object(s3: Any, uri: str) -> dict[str, Any]:
    bucket, key = _split_s3(uri)
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def _job_metrics(sagemaker: Any, job_name: str) -> str:
    """The validation metrics SageMaker captured from the job's log (only this stack's metric names)."""
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    found = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
    return keys.assignments({n: found[n] for n in contract.VALIDATION_METRICS if n in found})


def _tag_facts(sagemaker: Any, served: ServedModel) -> list[tuple[str, str]]:
    model = sagemaker.describe_model(ModelName=served.model_name)
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=model["ModelArn"]).get("Tags", [])}
    job = tags.get(keys.TRAINING_JOB, "")
    validation = ""
    if job:
        try:
            validation = _job_metrics(sagemaker, job)
        except Exception as error:  # the job may be gone (retention) or not readable: say so, show the rest
            validation = f"(unreadable: {type(error).__name__})"
    facts = [
        ("model", served.model_name),
        ("approved", "not registered: the stack's own training job"),
        ("model data", served.model_data_url),
        ("image", tags.get(keys.IMAGE, "")),
        ("training job", job),
        ("training data", tags.get(keys.DATA, "")),
        ("code archive", tags.get(keys.CODE_SHA256, "")),
        ("hyperparameters", tags.get(keys.HYPERPARAMETERS, "")),
        ("validation", validation),
        ("evaluation report", f"{served.model_data_url} ({EVALUATION_MEMBER} inside)"),
        ("git commit", tags.get(keys.GIT_COMMIT, "")),
    ]
    return [(label, value or NOT_RECORDED) for label, value in facts]


def describe_served(sagemaker: Any, s3: Any, endpoint: str, variant: str) -> ServedReport:
    """The served model and everything recorded about it; an unreadable report is said, not raised."""
    served = served_model(sagemaker, endpoint, variant)
    if served.model_package_arn:
        package = sagemaker.describe_model_package(ModelPackageName=served.model_package_arn)
        facts = [("model", served.model_name), *package_lineage(package)]
        source = (
            package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri", "")
        )
        read = (lambda: _evaluation_object(s3, source)) if source else None
    else:
        facts = _tag_facts(sagemaker, served)
        source = served.model_data_url
        read = lambda: _evaluation_in_artifact(s3, source)  # noqa: E731
    if read is None:
        return ServedReport(endpoint, served, facts, NOT_RECORDED, None, "the package has no ModelMetrics")
    try:
        return ServedReport(endpoint, served, facts, source, read())
    except Exception as error:  # a missing or malformed report is a finding for the reviewer, not a crash
        return ServedReport(endpoint, served, facts, source, None, f"{type(error).__name__}: {error}")


def _metric_line(name: str, metric: Mapping[str, Any]) -> str:
    deviation = metric.get("standard_deviation")
    spread = f" ± {deviation:.4f}" if isinstance(deviation, int | float) else ""
    return f"{name} {metric['value']:.4f}{spread}"


def render(report: ServedReport) -> str:
    served = report.served
    pad = " " * (LABEL_WIDTH + 2)
    lines = [
        f"endpoint {report.endpoint}: configuration {served.endpoint_config_name}",
        f"  {'model version':<{LABEL_WIDTH}}{served.version}",
    ]
    lines += [f"  {label:<{LABEL_WIDTH}}{value}" for label, value in report.facts]
    lines.append(f"  {'evaluation':<{LABEL_WIDTH}}{report.evaluation_source}")
    if report.evaluation is None:
        lines.append(f"{pad}(unreadable: {report.evaluation_error})")
    else:
        metrics = report.evaluation.get("binary_classification_metrics", {})
        shown = [_metric_line(n, metrics[n]) for n in REPORTED_METRICS if n in metrics]
        count = report.evaluation.get("dataset", {}).get("item_count", "?")
        lines.append(f"{pad}{', '.join(shown) or 'no binary classification metrics'}")
        lines.append(f"{pad}on {count} validation rows")
    lines.append(
        f"  {'drift baseline':<{LABEL_WIDTH}}{served.model_data_url} (baseline.json, schema.json inside)"
    )
    return "\n".join(lines)


def _endpoint_of(stack: str) -> tuple[str, str]:
    from infra.config_schema import load_stack_config
    from infra.settings import settings_from_values

    config = load_stack_config(stack)
    settings = settings_from_values(stack, config.region, config.values, config.pulumi_config())
    return endpoint_name(settings.base_name), settings.region


def main(argv: Sequence[str] | None = None, sagemaker: Any = None, s3: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.served", description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="the stack whose endpoint to describe (Pulumi.<stack>.yaml)")
    target.add_argument("--endpoint", help="an endpoint name (with --region)")
    parser.add_argument("--region", help="the endpoint's region (default: the stack's)")
    parser.add_argument(
        "--variant", default=VARIANT_NAME, help=f"the production variant (default {VARIANT_NAME})"
    )
    args = parser.parse_args(argv)
    if args.stack:
        try:
            endpoint, region = _endpoint_of(args.stack)
        except Exception as error:
            parser.error(f"--stack {args.stack!r}: {error}")
    else:
        endpoint, region = args.endpoint, args.region
    if sagemaker is None or s3 is None:
        if not (args.region or region):
            parser.error("--region is required with --endpoint")
        import boto3

        sagemaker = boto3.client("sagemaker", region_name=args.region or region)
        s3 = boto3.client("s3", region_name=args.region or region)
    try:
        report = describe_served(sagemaker, s3, endpoint, args.variant)
    except (ServedModelError, ClientError, BotoCoreError) as error:
        print(f"served: {error}", file=sys.stderr)
        return 2
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
