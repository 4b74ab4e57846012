"""infra/training_job.py as a unit: the CreateTrainingJob request, its name and the job's limits, from plain
values (no program run)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from infra import training_job
from infra.settings_types import Hyperparameters, TrainingSettings
from training import contract

KEY = "arn:aws:kms:eu-west-1:111122223333:key/k"
ROLE = "arn:aws:iam::111122223333:role/train"
CODE = "s3://code-bucket/training/source-abc.tar.gz"
OUT = "s3://model-bucket/models/training"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def settings(**changes: Any) -> TrainingSettings:
    base = TrainingSettings(
        framework_version="1.2-1",
        data_prefix="datasets/churn",
        data_version="v3",
        instance_type="ml.m5.large",
        volume_size_gb=30,
        max_runtime_seconds=3600,
        spot=False,
        spot_max_wait_seconds=7200,
        network_isolation=False,
        hyperparameters=Hyperparameters(
            estimator="gradient_boosting",
            n_estimators=150,
            max_depth=4,
            learning_rate=0.05,
            regularization_c=2.5,
            min_samples_leaf=3,
            random_seed=7,
        ),
        min_roc_auc=0.7,
        run=0,
    )
    return dataclasses.replace(base, **changes)


def inputs(s: TrainingSettings) -> training_job.JobInputs:
    return training_job.JobInputs(
        settings=s,
        image_uri=IMAGE,
        role_arn=ROLE,
        key_arn=KEY,
        code_uri=CODE,
        output_path=OUT,
        channel_uris={"train": "s3://d/p/train/", "validation": "s3://d/p/validation/"},
    )


def test_constants_name_the_program_channels_and_output_prefix() -> None:
    assert training_job.PROGRAM == "train.py"
    assert training_job.CHANNELS == ("train", "validation")
    assert training_job.CODE_CHANNEL == "code"
    assert training_job.DATA_CONTENT_TYPE == "text/csv"
    assert training_job.MODEL_OUTPUT_PREFIX == "models/training"


def test_image_tag_is_the_cpu_py3_tag_of_the_framework_version() -> None:
    # Tags of the SageMaker scikit-learn images: <version>-cpu-py3 (aws/sagemaker-python-sdk,
    # src/sagemaker/image_uri_config/sklearn.json uses "1.2-1" with py3 and processor cpu).
    assert training_job.image_tag("1.2-1") == "1.2-1-cpu-py3"


def test_hyperparameters_are_the_scripts_names_as_strings() -> None:
    assert training_job.hyperparameters(settings()) == {
        "estimator": "gradient_boosting",
        "n_estimators": "150",
        "max_depth": "4",
        "learning_rate": "0.05",
        "C": "2.5",
        "min_samples_leaf": "3",
        "random_state": "7",
    }


def test_a_bad_hyperparameter_is_refused_naming_it() -> None:
    bad = dataclasses.replace(settings().hyperparameters, estimator="forest_of_nonsense")
    with pytest.raises(ValueError, match="estimator"):
        training_job.hyperparameters(settings(hyperparameters=bad))


def test_submit_directory_is_the_s3_uri_unless_the_job_is_network_isolated() -> None:
    assert training_job.submit_directory(settings(), CODE) == CODE
    isolated = settings(network_isolation=True)
    # File-mode channel <name> is mounted at /opt/ml/input/data/<name> (SageMaker developer guide,
    # "How Amazon SageMaker Provides Training Information").
    assert training_job.submit_directory(isolated, CODE) == "/opt/ml/input/data/code/source-abc.tar.gz"


def test_job_hyperparameters_add_the_toolkits_keys() -> None:
    got = training_job.job_hyperparameters(settings(), CODE)
    assert {k: v for k, v in got.items() if k.startswith("sagemaker_")} == {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": CODE,
        # sagemaker-training-toolkit reads sagemaker_container_log_level as a logging level (20 = INFO).
        "sagemaker_container_log_level": "20",
    }
    assert got["C"] == "2.5" and len(got) == 10


def test_channel_uris_are_prefixes_under_the_data_version() -> None:
    assert training_job.channel_uris(settings(), "data-b") == {
        "train": "s3://data-b/datasets/churn/v3/train/",
        "validation": "s3://data-b/datasets/churn/v3/validation/",
    }


def test_job_name_is_the_base_and_twelve_hex_of_the_sorted_compact_request_and_run() -> None:
    request = {"b": [1, "x"], "a": 2}
    digest = hashlib.sha256(b'{"request":{"a":2,"b":[1,"x"]},"run":3}').hexdigest()
    assert digest.startswith("79d0752d676a")
    assert (
        training_job.job_name(base_name="churn-train", request=request, run=3) == "churn-train-79d0752d676a"
    )


def test_job_name_changes_with_the_request_and_the_run_only() -> None:
    request = {"a": 1}
    same = training_job.job_name(base_name="j", request={"a": 1}, run=0)
    assert training_job.job_name(base_name="j", request=request, run=0) == same
    assert training_job.job_name(base_name="j", request={"a": 2}, run=0) != same
    assert training_job.job_name(base_name="j", request=request, run=1) != same


def test_job_request_of_a_plain_on_demand_job() -> None:
    got = training_job.job_request(inputs(settings()))
    assert got["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert got["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert got["AlgorithmSpecification"]["MetricDefinitions"] == contract.metric_definitions() != []
    assert got["HyperParameters"]["sagemaker_submit_directory"] == CODE
    assert got["InputDataConfig"] == [
        {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://d/p/{name}/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
        }
        for name in ("train", "validation")
    ]
    assert got["OutputDataConfig"] == {"S3OutputPath": OUT, "KmsKeyId": KEY, "CompressionType": "GZIP"}
    assert got["ResourceConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": KEY,
    }
    assert got["RoleArn"] == ROLE
    assert got["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert got["EnableNetworkIsolation"] is False
    assert got["EnableManagedSpotTraining"] is False
    assert len(got) == 9


def test_a_network_isolated_job_brings_its_code_as_a_channel_without_content_type() -> None:
    got = training_job.job_request(inputs(settings(network_isolation=True)))
    assert got["InputDataConfig"][-1] == {
        "ChannelName": "code",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": CODE,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    assert len(got["InputDataConfig"]) == 3
    assert got["EnableNetworkIsolation"] is True
    assert got["HyperParameters"]["sagemaker_submit_directory"] == "/opt/ml/input/data/code/source-abc.tar.gz"


def test_a_spot_job_waits_at_most_its_spot_wait() -> None:
    # MaxWaitTimeInSeconds is required for managed spot training (CreateTrainingJob API, StoppingCondition).
    got = training_job.job_request(inputs(settings(spot=True)))
    assert got["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert got["EnableManagedSpotTraining"] is True


def test_longest_job_is_the_spot_wait_of_a_spot_job_else_the_max_runtime() -> None:
    assert training_job.longest_job_seconds(settings()) == 3600
    assert training_job.longest_job_seconds(settings(spot=True)) == 7200


def test_model_artifact_uri_is_output_path_job_name_output_model_tar_gz() -> None:
    # SageMaker writes <S3OutputPath>/<TrainingJobName>/output/model.tar.gz (developer guide, "Output Data").
    assert training_job.model_artifact_uri(OUT, "j-1") == f"{OUT}/j-1/output/model.tar.gz"
    assert training_job.model_artifact_uri(OUT + "/", "j-1") == f"{OUT}/j-1/output/model.tar.gz"
    assert training_job.model_artifact_uri("s3://b/runX", "j") == "s3://b/runX/j/output/model.tar.gz"
