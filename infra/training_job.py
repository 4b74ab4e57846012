"""The stack's TrainingJob as data: its CreateTrainingJob request, and its name, a hash of that whole request.

Every input the provider treats as replace-forcing is in the request, so `pulumi up` starts a new job, under a
new name, exactly when one of them changes, and never otherwise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from infra import iam
from infra.settings_types import TrainingSettings
from training import contract

PROGRAM = "train.py"
CHANNELS = contract.DATA_CHANNELS
CODE_CHANNEL = contract.CODE_CHANNEL
DATA_CONTENT_TYPE = "text/csv"
MODEL_OUTPUT_PREFIX = f"{iam.MODELS_PREFIX}/training"


def image_tag(framework_version: str) -> str:
    return f"{framework_version}-cpu-py3"


def hyperparameters(settings: TrainingSettings) -> dict[str, str]:
    """The training script's hyperparameters, as the strings a CreateTrainingJob request carries."""
    h = settings.hyperparameters
    return contract.validate_hyperparameters(
        {
            "estimator": h.estimator,
            "n_estimators": h.n_estimators,
            "max_depth": h.max_depth,
            "learning_rate": h.learning_rate,
            "C": h.regularization_c,
            "min_samples_leaf": h.min_samples_leaf,
            "random_state": h.random_seed,
        }
    )


def submit_directory(settings: TrainingSettings, code_uri: str) -> str:
    """Where the container finds the code: a network-isolated container cannot reach S3, so a channel brings it.

    The code channel's S3Uri is the archive's own key, so SageMaker stages it under the key's file name.
    """
    return contract.isolated_submit_directory(code_uri) if settings.network_isolation else code_uri


def job_hyperparameters(settings: TrainingSettings, code_uri: str) -> dict[str, str]:
    """Everything in the job's HyperParameters: the script's own plus the toolkit's `sagemaker_*` keys."""
    return {
        **hyperparameters(settings),
        "sagemaker_program": PROGRAM,
        "sagemaker_submit_directory": submit_directory(settings, code_uri),
        "sagemaker_container_log_level": "20",
    }


def channel_uris(settings: TrainingSettings, data_bucket: str) -> dict[str, str]:
    return {channel: f"s3://{data_bucket}/{settings.data_key_prefix}/{channel}/" for channel in CHANNELS}


def job_name(*, base_name: str, request: dict[str, Any], run: int) -> str:
    """`<base>-<hash>` of the CreateTrainingJob request: the same request gives the same name, any change a new one.

    Every TrainingJob argument the provider marks RequiresReplace is in the request, so a change that makes
    Pulumi replace the job also renames it (a reused name would make create-before-replace fail).
    """
    identity = json.dumps({"request": request, "run": run}, sort_keys=True, separators=(",", ":"))
    return f"{base_name}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class JobInputs:
    """Plain values a training job's CreateTrainingJob request is rendered from."""

    settings: TrainingSettings
    image_uri: str
    role_arn: str
    key_arn: str
    code_uri: str
    output_path: str
    # S3Uri of each data channel: a URI, or a pipeline parameter reference.
    channel_uris: dict[str, Any]


def _s3_prefix_channel(name: str, uri: Any, content_type: str | None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    if content_type:
        channel["ContentType"] = content_type
    return channel


def job_request(j: JobInputs) -> dict[str, Any]:
    """The CreateTrainingJob request (without name and tags) the stack's job and the pipeline's Train step send."""
    s = j.settings
    channels = [_s3_prefix_channel(c, j.channel_uris[c], DATA_CONTENT_TYPE) for c in CHANNELS]
    if s.network_isolation:
        channels.append(_s3_prefix_channel(CODE_CHANNEL, j.code_uri, None))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": s.max_runtime_seconds}
    if s.spot:
        stopping["MaxWaitTimeInSeconds"] = s.spot_max_wait_seconds
    return {
        "AlgorithmSpecification": {
            "TrainingImage": j.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": contract.metric_definitions(),
        },
        "HyperParameters": job_hyperparameters(s, j.code_uri),
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": j.output_path, "KmsKeyId": j.key_arn, "CompressionType": "GZIP"},
        "ResourceConfig": {
            "InstanceCount": 1,
            "InstanceType": s.instance_type,
            "VolumeSizeInGB": s.volume_size_gb,
            "VolumeKmsKeyId": j.key_arn,
        },
        "RoleArn": j.role_arn,
        "StoppingCondition": stopping,
        "EnableNetworkIsolation": s.network_isolation,
        "EnableManagedSpotTraining": s.spot,
    }


def longest_job_seconds(settings: TrainingSettings) -> int:
    """The longest a job may legitimately run: its spot wait (capacity plus training) or its max runtime."""
    return settings.spot_max_wait_seconds if settings.spot else settings.max_runtime_seconds


def model_artifact_uri(output_path: str, name: str) -> str:
    """Where SageMaker writes a finished job's model: <output path>/<job name>/output/model.tar.gz."""
    return f"{output_path.rstrip('/')}/{name}/output/model.tar.gz"
