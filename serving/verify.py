"""Post-deploy verification of the SageMaker endpoint, for CI right after ``pulumi up``.

    python serving/verify.py --endpoint-name N --expected-endpoint-config C --schema schema.json
                             [--region R] [--variant V] [--payloads FILE] [--expected-model-version M]

Checks, in order, and stops at the first group that fails:

1. The endpoint is InService, serves the expected endpoint config (SageMaker rolls a failed deployment
   back to the previous config and ``pulumi up`` can still report success), has no deployment in
   progress, and its production variant takes traffic on running instances as desired.
2. Sample rows answer 200 as a JSON list row, a JSON object row and a CSV row: one prediction per row,
   probabilities that sum to 1, predictions among the classes, a model_version.
3. A bad payload (one value too many) is refused with 400, proving validation runs in the real container.

The sample row comes from the feature schema (schema.json, as training writes it): each numeric feature at
the middle of its min/max, each categorical feature at its first category. ``--payloads`` replaces it
with a JSON file ``{"instances": [[...], ...]}`` of rows in schema order.

Exit codes: 0 verified, 1 verification failed, 2 usage error (bad arguments, schema or payload file).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
PROBABILITY_TOLERANCE = 1e-6


class UsageError(Exception):
    """Bad arguments, schema or payload file: exit code 2."""


@dataclass(frozen=True)
class Probe:
    name: str
    body: str
    content_type: str
    rows: int


@dataclass
class Report:
    passed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, condition: bool, success: str, failure: str) -> bool:
        (self.passed if condition else self.failures).append(success if condition else failure)
        return condition


def load_schema(path: Path) -> list[dict[str, Any]]:
    try:
        schema = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise UsageError(f"--schema {path}: cannot read a JSON schema: {error}") from None
    features = schema.get("features") if isinstance(schema, dict) else None
    if not isinstance(features, list) or not features:
        raise UsageError(f"--schema {path}: expected an object with a non-empty 'features' list")
    for position, feature in enumerate(features):
        kind = feature.get("type") if isinstance(feature, dict) else None
        if not isinstance(feature.get("name") if isinstance(feature, dict) else None, str) or kind not in (
            "numeric",
            "categorical",
        ):
            raise UsageError(
                f"--schema {path}: feature {position} needs a 'name' and a numeric/categorical 'type'"
            )
        if kind == "categorical" and not feature.get("categories"):
            raise UsageError(f"--schema {path}: categorical feature {feature['name']!r} has no categories")
    return features


def sample_row(features: Sequence[Mapping[str, Any]]) -> list[Any]:
    row: list[Any] = []
    for feature in features:
        if feature["type"] == "categorical":
            row.append(feature["categories"][0])
        else:
            low, high = feature.get("min", 0), feature.get("max", feature.get("min", 0))
            row.append((low + high) / 2)
    return row


def load_rows(path: Path, features: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise UsageError(f"--payloads {path}: cannot read JSON: {error}") from None
    rows = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(rows, list) or not rows:
        raise UsageError(f'--payloads {path}: expected {{"instances": [[...], ...]}} with at least one row')
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(features):
            raise UsageError(
                f"--payloads {path}: instance {index} must be a list of {len(features)} values in schema order"
            )
    return rows


def probes(features: Sequence[Mapping[str, Any]], rows: list[list[Any]]) -> list[Probe]:
    names = [feature["name"] for feature in features]
    objects = [dict(zip(names, row, strict=True)) for row in rows]
    csv_body = "\n".join(",".join(str(value) for value in row) for row in rows)
    return [
        Probe("JSON list rows", json.dumps({"instances": rows}), "application/json", len(rows)),
        Probe("JSON object rows", json.dumps({"instances": objects}), "application/json", len(rows)),
        Probe("CSV rows", csv_body, "text/csv", len(rows)),
    ]


def bad_probe(rows: list[list[Any]]) -> Probe:
    return Probe(
        "bad payload (one value too many)", json.dumps({"instances": [[*rows[0], 0]]}), "application/json", 1
    )


def check_endpoint(
    report: Report, sagemaker: Any, endpoint_name: str, expected_config: str, variant: str | None
) -> str | None:
    """Endpoint-level checks; returns the verified variant name, or None after recording a failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except (ClientError, BotoCoreError) as error:
        report.failures.append(f"cannot describe endpoint {endpoint_name!r}: {error}")
        return None
    status = endpoint.get("EndpointStatus")
    reason = f" (FailureReason: {endpoint['FailureReason']})" if endpoint.get("FailureReason") else ""
    if not report.check(
        status == "InService",
        f"endpoint {endpoint_name} is InService",
        f"endpoint {endpoint_name} is {status}{reason}, expected InService",
    ):
        return None
    current_config = endpoint.get("EndpointConfigName")
    if not report.check(
        current_config == expected_config,
        f"endpoint {endpoint_name} serves endpoint config {expected_config}",
        f"endpoint {endpoint_name} serves endpoint config {current_config!r}, expected {expected_config!r}: "
        "the deployment was rolled back or never applied",
    ):
        return None
    if not report.check(
        "PendingDeploymentSummary" not in endpoint,
        "no deployment in progress",
        f"endpoint {endpoint_name} still has a deployment in progress "
        f"(to {endpoint.get('PendingDeploymentSummary', {}).get('EndpointConfigName')!r})",
    ):
        return None
    try:
        return _check_variant(report, sagemaker, endpoint, expected_config, variant)
    except (ClientError, BotoCoreError) as error:
        report.failures.append(f"cannot describe endpoint config {expected_config!r}: {error}")
        return None


def _check_variant(
    report: Report, sagemaker: Any, endpoint: Mapping[str, Any], expected_config: str, variant: str | None
) -> str | None:
    variants = {v["VariantName"]: v for v in endpoint.get("ProductionVariants", [])}
    configured = {
        v["VariantName"]
        for v in sagemaker.describe_endpoint_config(EndpointConfigName=expected_config).get(
            "ProductionVariants", []
        )
    }
    if not report.check(
        set(variants) == configured,
        f"production variants {sorted(variants)} match the endpoint config",
        f"production variants {sorted(variants)} differ from endpoint config {expected_config}'s {sorted(configured)}",
    ):
        return None
    if variant is None:
        if not report.check(
            len(variants) == 1,
            "one production variant",
            f"endpoint has variants {sorted(variants)}; choose one with --variant",
        ):
            return None
        variant = next(iter(variants))
    if not report.check(
        variant in variants,
        f"variant {variant} exists",
        f"variant {variant!r} not found in {sorted(variants)}",
    ):
        return None
    details = variants[variant]
    weight, desired_weight = (
        details.get("CurrentWeight"),
        details.get("DesiredWeight", details.get("CurrentWeight")),
    )
    healthy = report.check(
        weight is not None and weight > 0 and weight == desired_weight,
        f"variant {variant} takes traffic (weight {weight})",
        f"variant {variant} has current weight {weight}, desired {desired_weight}: it does not take traffic as configured",
    )
    if "CurrentServerlessConfig" not in details:
        count, desired_count = details.get("CurrentInstanceCount"), details.get("DesiredInstanceCount")
        healthy &= report.check(
            bool(count) and count == desired_count,
            f"variant {variant} runs {count} instance(s) as desired",
            f"variant {variant} runs {count} instance(s), desired {desired_count}",
        )
    return variant if healthy else None


def check_answer(report: Report, probe: Probe, body: bytes, expected_model_version: str | None) -> None:
    try:
        answer = json.loads(body)
        predictions, probabilities = answer["predictions"], answer["probabilities"]
        classes, model_version = answer["classes"], answer["model_version"]
    except (ValueError, TypeError, KeyError) as error:
        report.failures.append(f"{probe.name}: answer is not the contract's JSON ({error!r}): {body[:200]!r}")
        return
    problems = []
    if not isinstance(predictions, list) or len(predictions) != probe.rows:
        problems.append(f"expected {probe.rows} predictions, got {predictions!r:.200}")
    if not isinstance(probabilities, list) or len(probabilities) != probe.rows:
        problems.append(f"expected {probe.rows} probability rows, got {probabilities!r:.200}")
    else:
        for index, row in enumerate(probabilities):
            valid = (
                isinstance(row, list)
                and len(row) == len(classes)
                and all(isinstance(p, int | float) and 0 <= p <= 1 for p in row)
            )
            if not valid or not math.isclose(sum(row), 1.0, abs_tol=PROBABILITY_TOLERANCE):
                problems.append(
                    f"probabilities of row {index} {row!r} do not sum to 1 over classes {classes}"
                )
                break
    if isinstance(predictions, list) and not all(p in classes for p in predictions):
        problems.append(f"predictions {predictions!r:.200} are not all among classes {classes}")
    if not isinstance(model_version, str) or not model_version:
        problems.append(f"model_version missing or empty: {model_version!r}")
    elif expected_model_version is not None and model_version != expected_model_version:
        problems.append(f"model_version is {model_version!r}, expected {expected_model_version!r}")
    report.check(
        not problems,
        f"{probe.name}: 200 with {probe.rows} prediction(s) from model {model_version}",
        f"{probe.name}: " + "; ".join(problems),
    )


def check_refusal(report: Report, probe: Probe, invoke: Callable[[Probe], bytes]) -> None:
    from botocore.exceptions import ClientError

    try:
        body = invoke(probe)
    except ClientError as error:
        response = error.response
        code = response.get("Error", {}).get("Code")
        status = response.get("OriginalStatusCode")
        message = response.get("OriginalMessage", "")
        try:
            error_code = json.loads(message)["error"]["code"]
        except (ValueError, TypeError, KeyError):
            error_code = None
        report.check(
            code == "ModelError" and status == 400 and error_code is not None,
            f"{probe.name}: refused with 400 {error_code}",
            f"{probe.name}: expected the container to answer 400 with a JSON error, got {code} "
            f"(original status {status}): {message[:200]!r}",
        )
        return
    report.failures.append(
        f"{probe.name}: answered 200 instead of 400 ({body[:200]!r}); validation is not running"
    )


def verify(
    *,
    sagemaker: Any,
    runtime: Any,
    endpoint_name: str,
    expected_config: str,
    features: Sequence[Mapping[str, Any]],
    rows: list[list[Any]],
    variant: str | None = None,
    expected_model_version: str | None = None,
) -> Report:
    """Run every check against the given boto3 ``sagemaker`` and ``sagemaker-runtime`` clients."""
    from botocore.exceptions import BotoCoreError, ClientError

    report = Report()
    verified_variant = check_endpoint(report, sagemaker, endpoint_name, expected_config, variant)
    if verified_variant is None:
        return report

    def invoke(probe: Probe) -> bytes:
        arguments = {"TargetVariant": variant} if variant else {}
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType=probe.content_type,
            Accept="application/json",
            Body=probe.body.encode(),
            **arguments,
        )
        body: bytes = response["Body"].read()  # boto3 responses are untyped
        return body

    for probe in probes(features, rows):
        try:
            body = invoke(probe)
        except (ClientError, BotoCoreError) as error:
            report.failures.append(f"{probe.name}: invocation failed: {error}")
            continue
        check_answer(report, probe, body, expected_model_version)
    if report.ok:
        check_refusal(report, bad_probe(rows), invoke)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Verify a deployed SageMaker endpoint (see module docstring)."
    )
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument(
        "--expected-endpoint-config", required=True, help="the config pulumi up just deployed"
    )
    parser.add_argument("--schema", type=Path, required=True, help="schema.json of the deployed model")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--variant", help="production variant to check and invoke (default: the only one)")
    parser.add_argument("--payloads", type=Path, help='JSON file {"instances": [[...], ...]} in schema order')
    parser.add_argument("--expected-model-version", help="fail unless answers carry this model_version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        features = load_schema(arguments.schema)
        rows = load_rows(arguments.payloads, features) if arguments.payloads else [sample_row(features)]
    except UsageError as error:
        print(f"usage error: {error}", file=sys.stderr)
        return EXIT_USAGE
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.session.Session(region_name=arguments.region)
        report = verify(
            sagemaker=session.client("sagemaker"),
            runtime=session.client("sagemaker-runtime"),
            endpoint_name=arguments.endpoint_name,
            expected_config=arguments.expected_endpoint_config,
            features=features,
            rows=rows,
            variant=arguments.variant,
            expected_model_version=arguments.expected_model_version,
        )
    except BotoCoreError as error:
        print(f"FAIL: cannot reach SageMaker: {error}", file=sys.stderr)
        return EXIT_FAILED
    for line in report.passed:
        print(f"ok:   {line}")
    for line in report.failures:
        print(f"FAIL: {line}")
    verdict = "verified" if report.ok else "verification FAILED"
    print(f"{arguments.endpoint_name}: {verdict}")
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
