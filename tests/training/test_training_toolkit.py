"""Training through the real sagemaker-training toolkit, laid out as a SageMaker training instance."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import time
from pathlib import Path

import joblib
import numpy as np
import pytest

import baseline
import contract
import dataset
import toolkit_runner
import train
from tests.training.conftest import TRAINING_DIR, build_source_archive, declared_job

SERVING_DIR = TRAINING_DIR.parent / "serving"


def read_json(path):
    return json.loads(path.read_text())


def test_base_dir_is_laid_out_like_opt_ml(tmp_path, training_source_archive, sample_channels):
    base = tmp_path / "opt-ml"
    declared, channels = declared_job(training_source_archive, sample_channels)
    staged = toolkit_runner.lay_out_base_dir(base, {**declared, "C": "0.5"}, channels)
    assert staged == {"train": ["train.csv"], "validation": ["validation.csv"], "code": ["sourcedir.tar.gz"]}
    archive = base / "input" / "data" / "code" / "sourcedir.tar.gz"
    assert archive.read_bytes() == training_source_archive.read_bytes()
    config = base / "input" / "config"
    assert read_json(config / "hyperparameters.json") == {
        "sagemaker_program": "train.py",
        "C": "0.5",
        "sagemaker_submit_directory": str(archive),
    }
    assert read_json(config / "inputdataconfig.json")["train"]["ContentType"] == "text/csv"
    assert set(read_json(config / "inputdataconfig.json")) == {"train", "validation", "code"}
    resources = read_json(config / "resourceconfig.json")
    assert resources["current_host"] == "algo-1"
    assert resources["hosts"] == ["algo-1"]
    assert (base / "input" / "data" / "train" / "train.csv").is_file()
    assert list((base / "code").iterdir()) == []


# File-mode channel <name> is copied to /opt/ml/input/data/<name>
# (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html);
# with S3Prefix "SageMaker uses all objects that match the specified key name prefix", and FullyReplicated gives
# every instance all of them (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html);
# the SageMaker Python SDK's local mode places a prefix that is one object's key under that object's file name
# and other objects at their path relative to the prefix (aws/sagemaker-python-sdk src/sagemaker/utils.py
# download_folder).
def test_channels_are_staged_by_key_as_sagemaker_does(tmp_path):
    key_file = tmp_path / "blob"
    key_file.write_bytes(b"x")
    objects = {
        "datasets/churn/v1/train/part-1.csv": key_file,
        "datasets/churn/v1/train/2026/part-2.csv": key_file,
        "datasets/churn/v1/train/": key_file,  # a console "folder" marker holds no data
        "datasets/churn/v1/validation/v.csv": key_file,
        "code/training/0123456789abcdef/sourcedir.tar.gz": key_file,
        "code/training/0123456789abcdef/other.txt": key_file,
    }
    train = toolkit_runner.S3Channel("s3://data/datasets/churn/v1/train/", objects)
    assert toolkit_runner.stage_channel("train", train, tmp_path / "train") == [
        "2026/part-2.csv",
        "part-1.csv",
    ]
    code = toolkit_runner.S3Channel("s3://artifacts/code/training/0123456789abcdef/sourcedir.tar.gz", objects)
    assert toolkit_runner.stage_channel("code", code, tmp_path / "code") == ["sourcedir.tar.gz"]
    assert sorted(p.name for p in (tmp_path / "code").iterdir()) == ["sourcedir.tar.gz"]


# The SDK's own code channel: S3Uri is the archive's key ending in sourcedir.tar.gz and sagemaker_submit_directory
# is /opt/ml/input/data/code/sourcedir.tar.gz (aws/sagemaker-python-sdk src/sagemaker/estimator.py
# CONTAINER_CODE_CHANNEL_SOURCEDIR_PATH; code_uri = uploaded_code.s3_prefix, key "<prefix>/sourcedir.tar.gz").
def test_the_submit_directory_follows_the_code_key():
    uri = "s3://artifacts/code/training/0123456789abcdef/sourcedir.tar.gz"
    assert contract.isolated_submit_directory(uri) == "/opt/ml/input/data/code/sourcedir.tar.gz"
    old = "s3://artifacts/code/training/sourcedir-0123456789abcdef.tar.gz"
    assert (
        contract.isolated_submit_directory(old) == "/opt/ml/input/data/code/sourcedir-0123456789abcdef.tar.gz"
    )
    with pytest.raises(ValueError, match="expected an S3 URI"):
        contract.isolated_submit_directory("code/training/sourcedir.tar.gz")


def test_a_channel_that_matches_nothing_is_refused(tmp_path, training_source_archive, sample_channels):
    declared, channels = declared_job(training_source_archive, sample_channels)
    channels["train"] = toolkit_runner.S3Channel("s3://data/datasets/elsewhere/", channels["train"].objects)
    with pytest.raises(ValueError, match=r"channel 'train': no object under s3://data/datasets/elsewhere/"):
        toolkit_runner.lay_out_base_dir(tmp_path / "b", declared, channels)


def test_a_used_base_dir_is_refused(tmp_path, training_source_archive, sample_channels):
    (tmp_path / "code").mkdir()
    declared, channels = declared_job(training_source_archive, sample_channels)
    with pytest.raises(ValueError, match="is not empty; every run needs a fresh folder"):
        toolkit_runner.lay_out_base_dir(tmp_path, declared, channels)


def test_a_missing_object_file_or_folder_is_refused(tmp_path, training_source_archive, sample_channels):
    declared, channels = declared_job(training_source_archive, sample_channels)
    code = channels["code"]
    channels["code"] = toolkit_runner.S3Channel(code.uri, {k: tmp_path / "absent" for k in code.objects})
    with pytest.raises(ValueError, match=r"channel 'code': object .* has no local file"):
        toolkit_runner.lay_out_base_dir(tmp_path / "a", declared, channels)
    with pytest.raises(ValueError, match="is not a directory"):
        toolkit_runner.objects_under("datasets/train/", tmp_path / "nope")


def test_inherited_sagemaker_variables_do_not_leak_into_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SM_MODEL_DIR", "/elsewhere")
    monkeypatch.setenv("TRAINING_JOB_NAME", "someone-elses-job")
    env = toolkit_runner.toolkit_environment(tmp_path, {"TRAINING_JOB_NAME": "mine"})
    assert "SM_MODEL_DIR" not in env
    assert env["TRAINING_JOB_NAME"] == "mine"
    assert env["SAGEMAKER_BASE_DIR"] == str(tmp_path)
    assert env["SM_STUDIO_LOCAL_MODE"] == "true"


def test_training_archive_holds_the_flat_training_folder(training_source_archive):
    with tarfile.open(training_source_archive) as tar:
        names = tar.getnames()
    assert "train.py" in names
    assert "contract.py" in names
    assert all("/" not in name for name in names)
    assert sorted(p.name for p in TRAINING_DIR.glob("*.py")) == sorted(n for n in names if n.endswith(".py"))


@pytest.mark.slow
def test_toolkit_trains_the_sample_data(run_toolkit, training_source_archive, sample_channels, sample_frames):
    run = run_toolkit(training_source_archive, {}, sample_channels)
    assert run.returncode == 0, run.output[-3000:]
    assert "Invoking script with the following command" in run.stderr
    assert "Reporting training SUCCESS" in run.stderr
    assert (run.output_dir / "success").exists()
    assert run.failure_reason is None

    model = joblib.load(run.model_dir / "model.joblib")
    validation = sample_frames[1]
    probabilities = model.predict_proba(dataset.features(validation))
    assert probabilities.shape == (len(validation), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)

    metrics = read_json(run.model_dir / "metrics.json")
    assert metrics["validation:roc_auc"] > 0.7
    assert 0.5 < metrics["validation:accuracy"] <= 1.0
    assert read_json(run.output_data_dir / "metrics.json") == metrics
    for definition in contract.metric_definitions():
        captured = re.findall(definition["Regex"], run.stdout)
        assert [float(v) for v in captured] == [pytest.approx(metrics[definition["Name"]], abs=1e-6)]

    document = read_json(run.model_dir / "baseline.json")
    assert document["record_count"] == len(sample_frames[0])
    for entry in document["features"]:
        assert sum(entry["frequencies"]) == pytest.approx(1.0)
        if entry["type"] == "numeric":
            assert entry["edges"] == sorted(set(entry["edges"]))
    assert document["prediction"]["edges"] == list(baseline.PREDICTION_EDGES)
    assert read_json(run.model_dir / "schema.json") == contract.schema_document()
    info = read_json(run.model_dir / "model_info.json")
    assert info["hyperparameters"] == dict(contract.HYPERPARAMETER_DEFAULTS)
    assert info["model_version"].startswith("local-")
    assert not (run.model_dir / "code").exists()


@pytest.mark.slow
def test_toolkit_passes_C_and_bundles_serving_code(
    run_toolkit, training_source_archive_with_serving_code, sample_channels
):
    run = run_toolkit(
        training_source_archive_with_serving_code,
        {"estimator": "logistic_regression", "C": "0.25"},
        sample_channels,
        env={"TRAINING_JOB_NAME": "sagestack-dev-train-0001"},
    )
    assert run.returncode == 0, run.output[-3000:]
    assert "train.py -C 0.25 --estimator logistic_regression" in run.stderr
    model = joblib.load(run.model_dir / "model.joblib")
    assert model.named_steps["classifier"].C == 0.25
    info = read_json(run.model_dir / "model_info.json")
    assert info["hyperparameters"]["C"] == 0.25
    assert info["model_version"] == "sagestack-dev-train-0001"
    assert sorted(p.name for p in (run.model_dir / "code").iterdir()) == [
        "compiled_estimator.py",
        "inference.py",
        "inference_build.py",
        "pyproject.toml",
        "requirements.txt",
    ]
    assert (run.model_dir / "code" / "inference.py").read_bytes() == (
        SERVING_DIR / "inference.py"
    ).read_bytes()


@pytest.mark.slow
def test_the_old_code_layout_fails_locally(run_toolkit, training_source_archive, sample_channels):
    """Issue 10 #1: code stored as sourcedir-<hash>.tar.gz while the job says .../code/sourcedir.tar.gz."""
    digest = hashlib.sha256(training_source_archive.read_bytes()).hexdigest()[:16]
    run = run_toolkit(
        training_source_archive,
        {"sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz"},
        sample_channels,
        code_key=f"code/training/sourcedir-{digest}.tar.gz",
    )
    assert run.returncode != 0
    assert "No such file or directory" in run.stderr and "code/sourcedir.tar.gz" in run.stderr
    assert (run.base_dir / "input" / "data" / "code" / f"sourcedir-{digest}.tar.gz").is_file()
    assert not (run.model_dir / "model.joblib").exists()


def _drop_age(frame):
    return frame.drop(columns=["age"])


def _text_in_charges(frame):
    frame = frame.astype({"monthly_charges": object})
    frame.loc[5, "monthly_charges"] = "n/a-yet"
    return frame


def _null_label(frame):
    frame = frame.astype({"churned": object})
    frame.loc[3, "churned"] = None
    return frame


BAD_DATA = {
    "missing-column": (_drop_age, "age", "missing column(s) ['age']"),
    "non-numeric": (_text_in_charges, "monthly_charges", "line 7: value 'n/a-yet' is not numeric"),
    "empty-file": (None, None, "file train.csv: file is empty"),
    "null-label": (_null_label, "churned", "line 5: null label"),
}


def _bad_train_channel(tmp_path, sample_frames, break_rows):
    train_dir = tmp_path / "bad-train"
    train_dir.mkdir()
    if break_rows is None:
        (train_dir / "train.csv").write_bytes(b"")
    else:
        break_rows(sample_frames[0].head(200).copy()).to_csv(train_dir / "train.csv", index=False)
    return train_dir


def _assert_one_clear_line(message_lines, column, expected):
    assert len(message_lines) == 1, message_lines
    assert message_lines[0].startswith("DataContractError: ")
    assert "channel 'train'" in message_lines[0]
    assert expected in message_lines[0]
    if column:
        assert f"'{column}'" in message_lines[0]


@pytest.mark.slow
def test_toolkit_run_fails_clearly_on_bad_data(
    run_toolkit, training_source_archive, sample_frames, sample_channels, tmp_path
):
    # Through the toolkit once: the line reaches the job's stderr and /opt/ml/output/failure, exit status 2.
    break_rows, column, expected = BAD_DATA["non-numeric"]
    train_dir = _bad_train_channel(tmp_path, sample_frames, break_rows)
    run = run_toolkit(
        training_source_archive, {}, {"train": train_dir, "validation": sample_channels["validation"]}
    )

    assert run.returncode != 0
    message_lines = [line for line in run.stderr.splitlines() if line.startswith("DataContractError: ")]
    _assert_one_clear_line(message_lines, column, expected)
    assert "Traceback" not in run.output
    assert "ExitCode 2" in run.stderr
    assert run.failure_reason == message_lines[0]
    assert not (run.model_dir / "model.joblib").exists()


@pytest.mark.parametrize("case", sorted(set(BAD_DATA) - {"non-numeric"}))
def test_train_fails_clearly_on_bad_data(case, sample_frames, sample_channels, tmp_path, monkeypatch, capsys):
    # The same entry point the toolkit runs (train.main), in process: status 2, one stderr line, the failure file.
    break_rows, column, expected = BAD_DATA[case]
    train_dir = _bad_train_channel(tmp_path, sample_frames, break_rows)
    output_dir, model_dir = tmp_path / "output", tmp_path / "model"
    output_dir.mkdir()
    model_dir.mkdir()
    monkeypatch.setenv("SM_OUTPUT_DIR", str(output_dir))
    arguments = ["--model-dir", str(model_dir), "--train", str(train_dir)]
    arguments += ["--validation", str(sample_channels["validation"]), "--output-data-dir", str(output_dir)]
    with pytest.raises(SystemExit) as exited:
        train.main(arguments)
    assert exited.value.code == 2
    message_lines = capsys.readouterr().err.splitlines()
    _assert_one_clear_line(message_lines, column, expected)
    assert (output_dir / "failure").read_text(encoding="utf-8") == message_lines[0]
    assert not (model_dir / "model.joblib").exists()


def _processes_working_in(folder):
    running = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).is_relative_to(folder):
                running.append(proc.name)
        except OSError:
            continue
    return running


@pytest.mark.slow
def test_a_hanging_run_is_killed_at_the_timeout(tmp_path, sample_channels):
    (tmp_path / "source").mkdir()
    archive = build_source_archive(
        tmp_path / "source", tmp_path / "sourcedir.tar.gz", {"train.py": b"import time\ntime.sleep(120)\n"}
    )
    base_dir = tmp_path / "opt-ml"
    declared, channels = declared_job(archive, sample_channels)
    started = time.monotonic()
    # The toolkit reaches "Invoking script" in ~1.5 s here (its imports come with their bytecode: make
    # setup); 5 s leaves room for a loaded machine without waiting twice that.
    with pytest.raises(toolkit_runner.ToolkitTimeout, match="did not finish within 5 s") as caught:
        toolkit_runner.run_training_locally(declared, channels, base_dir, timeout=5)
    # A surviving grandchild would hold the output pipes open until its 120 s sleep ends.
    assert time.monotonic() - started < 60
    assert "Invoking script" in caught.value.stderr
    assert _processes_working_in(base_dir) == []
