from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import joblib
import pytest

import contract
import train

TRAIN_SCRIPT = Path(train.__file__).resolve()


FAST = ["--estimator", "logistic_regression"]


def test_training_writes_the_model_artifact(job_env, capsys):
    assert train.main(FAST) == 0
    model_dir = job_env["SM_MODEL_DIR"]
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "baseline.json",
        "evaluation.json",
        "metrics.json",
        "model.joblib",
        "model_info.json",
        "schema.json",
    ]
    assert json.loads((model_dir / "schema.json").read_text()) == contract.schema_document()
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert set(metrics) == set(contract.VALIDATION_METRICS)
    assert metrics["validation:roc_auc"] > 0.75
    assert json.loads((job_env["SM_OUTPUT_DATA_DIR"] / "metrics.json").read_text()) == metrics
    info = json.loads((model_dir / "model_info.json").read_text())
    assert info["sklearn_version"] == "1.9.0"
    assert info["hyperparameters"] == {**contract.HYPERPARAMETER_DEFAULTS, "estimator": "logistic_regression"}
    assert re.fullmatch(r"local-[0-9a-f]{12}", info["model_version"])
    baseline = json.loads((model_dir / "baseline.json").read_text())
    assert baseline["record_count"] == 2400
    model = joblib.load(model_dir / "model.joblib")
    assert list(model.classes_) == [0, 1]


def test_metric_definitions_capture_what_train_prints(job_env, capsys):
    train.main(FAST)
    stdout = capsys.readouterr().out
    metrics = json.loads((job_env["SM_MODEL_DIR"] / "metrics.json").read_text())
    for definition in contract.metric_definitions():
        captured = re.findall(definition["Regex"], stdout)
        assert len(captured) == 1, definition
        assert float(captured[0]) == pytest.approx(metrics[definition["Name"]], abs=1e-6)


def test_model_version_is_the_training_job_name_when_sagemaker_sets_it(job_env, monkeypatch):
    monkeypatch.setenv("TRAINING_JOB_NAME", "sagestack-dev-train-1a2b3c4d")
    train.main(FAST)
    info = json.loads((job_env["SM_MODEL_DIR"] / "model_info.json").read_text())
    assert info["model_version"] == "sagestack-dev-train-1a2b3c4d"


def test_local_model_version_depends_on_data_and_hyperparameters(sample_channels, tmp_path):
    dirs = [sample_channels["train"], sample_channels["validation"]]
    defaults = dict(contract.HYPERPARAMETER_DEFAULTS)
    version = train.local_model_version(dirs, defaults)
    assert version == train.local_model_version(dirs, dict(defaults))
    assert version != train.local_model_version(dirs, {**defaults, "C": 2.0})
    assert version != train.local_model_version(dirs[:1], defaults)


def test_serving_code_is_bundled_into_the_model_dir(tmp_path):
    source = tmp_path / "code"
    (source / "serving_code" / "__pycache__").mkdir(parents=True)
    (source / "serving_code" / "inference.py").write_text("def model_fn(model_dir): ...\n")
    (source / "serving_code" / "requirements.txt").write_text("")
    (source / "serving_code" / "__pycache__" / "inference.cpython-311.pyc").write_bytes(b"")
    model_dir = tmp_path / "model"
    assert train.bundle_serving_code(source, model_dir) == ["inference.py", "requirements.txt"]
    assert (model_dir / "code" / "inference.py").read_text().startswith("def model_fn")


def test_no_serving_code_folder_means_nothing_is_bundled(tmp_path):
    assert train.bundle_serving_code(tmp_path, tmp_path / "model") == []
    assert not (tmp_path / "model" / "code").exists()


def test_bad_data_exits_2_with_one_line_and_a_failure_reason(job_env, write_channels, sample_frames, capsys):
    broken = write_channels(train=sample_frames[0].drop(columns=["age"]))
    with pytest.raises(SystemExit) as exited:
        train.main([*FAST, "--train", str(broken["train"])])
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1
    assert stderr.startswith("DataContractError: channel 'train' file train.csv: missing column(s) ['age']")
    assert "Traceback" not in stderr
    assert (job_env["SM_OUTPUT_DIR"] / "failure").read_text() == stderr.strip()
    assert not (job_env["SM_MODEL_DIR"] / "model.joblib").exists()


def test_failure_reason_is_skipped_when_there_is_no_output_dir(job_env, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("SM_OUTPUT_DIR")
    with pytest.raises(SystemExit):
        train.main([*FAST, "--train", str(tmp_path / "absent")])
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no-opt-ml-output").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n_estimators", "zero"], "'n_estimators': got 'zero', expected an integer in [1, 5000]"),
        (["-C", "-1"], "'C': got '-1', expected a number in [1e-09, 1000000000.0]"),
        (["--estimator", "svm"], "'estimator': got 'svm', expected one of ['gradient_boosting'"),
        (["--depth", "3"], "unrecognized arguments: --depth 3"),
    ],
)
def test_bad_hyperparameters_exit_2_naming_the_hyperparameter(job_env, argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        train.main(argv)
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("HyperparameterError: ")
    assert message in stderr
    assert message in (job_env["SM_OUTPUT_DIR"] / "failure").read_text()


@pytest.mark.slow
def test_help_works_as_a_plain_script():
    result = subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for hyperparameter in contract.HYPERPARAMETERS:
        assert hyperparameter.flag in result.stdout
    assert "--model-dir" in result.stdout
