"""Lambda entry point of the scheduled drift run (EventBridge schedule -> handler)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from monitoring import metrics
from monitoring.artifact import load_model_baseline, parse_s3_url
from monitoring.config import ConfigError, required, whole_number
from monitoring.drift import BaselineError
from monitoring.engine import (
    Window,
    artifact_broken_data,
    capture_coverage,
    endpoint_invocations,
    measure_window,
    metric_data,
    publish,
)
from monitoring.served_model import ServedModelError, served_model

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


@dataclass(frozen=True)
class DriftConfig:
    capture_uri: str
    endpoint_name: str
    variant_name: str
    window_minutes: int
    sampling_percent: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DriftConfig:
        capture_uri = required(environ, "CAPTURE_S3_URI")
        try:
            parse_s3_url(capture_uri, "CAPTURE_S3_URI")
        except ValueError as error:
            raise ConfigError(str(error)) from None
        window_minutes = whole_number(environ, "WINDOW_MINUTES", 1, metrics.MAX_WINDOW_MINUTES)
        sampling_percent = whole_number(environ, "CAPTURE_SAMPLING_PERCENT", 1, 100)
        endpoint_name = required(environ, "ENDPOINT_NAME")
        variant_name = required(environ, "VARIANT_NAME")
        for name, value in (("ENDPOINT_NAME", endpoint_name), ("VARIANT_NAME", variant_name)):
            if "/" in value:
                raise ConfigError(f"{name}: expected a SageMaker name without '/', got {value!r}")
        return cls(capture_uri, endpoint_name, variant_name, window_minutes, sampling_percent)


def scheduled_time(event: Mapping[str, Any]) -> datetime:
    """The `time` of an EventBridge scheduled event; a manual invocation without one runs for now."""
    raw = event.get("time") if isinstance(event, Mapping) else None
    if raw is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"event.time: expected an ISO 8601 UTC time like 2026-11-28T03:00:00Z, got {raw!r}")
    return moment


def run(
    config: DriftConfig, event: Mapping[str, Any], *, s3: Any, cloudwatch: Any, sagemaker: Any
) -> dict[str, Any]:
    """Measure the last settled window before the event's time and publish; returns a JSON summary.

    A model artifact whose baseline cannot be used publishes ArtifactBroken=1 and nothing else: never drift.
    """
    scheduled = scheduled_time(event)
    window = Window.settled(scheduled, config.window_minutes)
    endpoint, variant = config.endpoint_name, config.variant_name
    try:
        # The baseline of the model the endpoint serves now: it follows promotions and rollbacks.
        served = served_model(sagemaker, endpoint, variant)
        model = load_model_baseline(s3, served.model_data_url)
    except (BaselineError, ServedModelError) as error:
        logger.error("model artifact unusable for drift: %s", error)
        publish(cloudwatch, artifact_broken_data(endpoint, variant, scheduled))
        return {
            "endpoint_name": endpoint,
            "variant_name": variant,
            "status": "artifact_broken",
            "error": str(error),
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        }
    result = measure_window(
        s3,
        capture_uri=config.capture_uri,
        endpoint=config.endpoint_name,
        variant=config.variant_name,
        model=model,
        window=window,
    )
    coverage = capture_coverage(
        result.lines_placed,
        endpoint_invocations(cloudwatch, endpoint, variant, window),
        config.sampling_percent,
    )
    published = publish(
        cloudwatch, metric_data(result, endpoint, variant, timestamp=scheduled, coverage=coverage)
    )
    summary = {
        "endpoint_name": endpoint,
        "variant_name": variant,
        "status": "measured",
        **result.summary(),
        "capture_coverage": coverage,
        "metrics_published": published,
        "model": {
            "version": served.version,
            "model_name": served.model_name,
            "endpoint_config_name": served.endpoint_config_name,
            "model_package_arn": served.model_package_arn,
        },
        "baseline": {"model_data_url": model.source, "etag": model.etag},
    }
    logger.info(
        "drift run %s..%s: %d records, %d malformed, max feature drift %s (%s), prediction drift %s",
        window.start.isoformat(),
        window.end.isoformat(),
        result.records,
        result.malformed_total,
        result.max_feature_drift,
        result.max_feature,
        result.prediction_drift,
    )
    return summary


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    config = DriftConfig.from_env(os.environ)
    return run(
        config,
        event,
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sagemaker=boto3.client("sagemaker"),
    )
