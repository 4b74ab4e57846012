"""The retraining pipeline's definition as data: train, evaluate, gate on the evaluation, register the model
package with its lineage. Rendered from plain values, so it renders the same every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra import iam, lineage
from infra.settings_types import TrainingSettings
from infra.training_job import CHANNELS, JobInputs, hyperparameters, job_request
from training import contract

# Pipeline jobs copy their evaluation report here (CheckpointConfig), one folder per pipeline execution.
EVALUATION_PREFIX = f"{iam.MODELS_PREFIX}/evaluation"
EVALUATION_CONTENT_TYPE = "application/json"
PIPELINE_SCHEMA_VERSION = "2020-12-01"


@dataclass(frozen=True)
class PipelineInputs:
    """Plain values the retraining pipeline's definition is rendered from (so it renders the same every time)."""

    image_uri: str
    role_arn: str
    key_arn: str
    code_uri: str
    output_path: str
    channel_uris: dict[str, str]
    model_package_group: str
    settings: TrainingSettings
    serving_environment: dict[str, str]
    inference_instance_types: tuple[str, ...]
    code_sha256: str
    evaluation_path: str  # s3://<artifacts>/models/evaluation
    git_commit: str | None = None


def _join(*values: Any, on: str = "") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def _validation_metrics_value() -> dict[str, Any]:
    """`validation:accuracy=<v> validation:f1=<v> ...` from the Train step's captured metrics."""
    values: list[Any] = []
    for index, metric in enumerate(sorted(contract.VALIDATION_METRICS)):
        values += [
            f"{' ' if index else ''}{metric}=",
            {"Get": f"Steps.Train.FinalMetricDataList['{metric}'].Value"},
        ]
    return _join(*values)


def evaluation_report_uri(evaluation_path: str) -> dict[str, Any]:
    """Where this execution's Train step leaves evaluation.json: its checkpoint folder, copied to S3 as is."""
    return _join(evaluation_path, {"Get": "Execution.PipelineExecutionId"}, "evaluation.json", on="/")


def registered_lineage(p: PipelineInputs) -> dict[str, Any]:
    """CustomerMetadataProperties of a registered candidate (values resolved by the pipeline at run time)."""
    properties: dict[str, Any] = {
        lineage.TRAINING_JOB: {"Get": "Steps.Train.TrainingJobName"},
        lineage.DATA: _join(
            *(
                part
                for index, channel in enumerate(CHANNELS)
                for part in (
                    f"{' ' if index else ''}{channel}=",
                    {"Get": f"Parameters.{channel.capitalize()}DataUri"},
                )
            )
        ),
        lineage.CODE_SHA256: p.code_sha256,
        lineage.HYPERPARAMETERS: lineage.assignments(hyperparameters(p.settings)),
        lineage.VALIDATION_METRICS: _validation_metrics_value(),
        lineage.IMAGE: lineage.value(p.image_uri),
    }
    if p.git_commit:
        properties[lineage.GIT_COMMIT] = p.git_commit
    return properties


def pipeline_definition(p: PipelineInputs) -> dict[str, Any]:
    """Train -> check validation ROC AUC against a threshold -> register as PendingManualApproval, or fail."""
    s = p.settings
    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            **job_request(
                JobInputs(
                    settings=s,
                    image_uri=p.image_uri,
                    role_arn=p.role_arn,
                    key_arn=p.key_arn,
                    code_uri=p.code_uri,
                    output_path=p.output_path,
                    channel_uris={c: {"Get": f"Parameters.{c.capitalize()}DataUri"} for c in CHANNELS},
                )
            ),
            # train.py copies evaluation.json into the checkpoint directory; SageMaker uploads it unpacked.
            "CheckpointConfig": {
                "S3Uri": _join(p.evaluation_path, {"Get": "Execution.PipelineExecutionId"}, on="/")
            },
        },
    }
    register = {
        "Name": "RegisterCandidate",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": p.model_package_group,
            "ModelApprovalStatus": {"Get": "Parameters.ModelApprovalStatus"},
            "ModelPackageDescription": "Retrained on drift; approve to deploy by pinning approvedModelPackageArn",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": p.image_uri,
                        "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                        "Environment": p.serving_environment,
                    }
                ],
                "SupportedContentTypes": ["application/json", "text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": list(p.inference_instance_types),
                "SupportedTransformInstanceTypes": list(p.inference_instance_types),
            },
            "CustomerMetadataProperties": registered_lineage(p),
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": EVALUATION_CONTENT_TYPE,
                        "S3Uri": evaluation_report_uri(p.evaluation_path),
                    }
                }
            },
            **({"MetadataProperties": {"CommitId": p.git_commit}} if p.git_commit else {}),
        },
    }
    fail = {
        "Name": "RocAucBelowThreshold",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": {
                "Std:Join": {
                    "On": " ",
                    "Values": [
                        f"{contract.METRIC_ROC_AUC} below",
                        {"Get": "Parameters.MinRocAuc"},
                        "- candidate not registered",
                    ],
                }
            }
        },
    }
    check = {
        "Name": "CheckRocAuc",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": {
                        "Get": f"Steps.Train.FinalMetricDataList['{contract.METRIC_ROC_AUC}'].Value"
                    },
                    "RightValue": {"Get": "Parameters.MinRocAuc"},
                }
            ],
            "IfSteps": [register],
            "ElseSteps": [fail],
        },
    }
    parameters = [
        *(
            {
                "Name": f"{channel.capitalize()}DataUri",
                "Type": "String",
                "DefaultValue": p.channel_uris[channel],
            }
            for channel in CHANNELS
        ),
        {"Name": "MinRocAuc", "Type": "Float", "DefaultValue": s.min_roc_auc},
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
    ]
    return {
        "Version": PIPELINE_SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": parameters,
        "Steps": [train, check],
    }


def render_pipeline_definition(p: PipelineInputs) -> str:
    return json.dumps(pipeline_definition(p), sort_keys=True, separators=(",", ":"))
