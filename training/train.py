"""Script-mode entry point of the training job (SageMaker runs ``python train.py <hyperparameters>``).

Reads the ``train`` and ``validation`` channels, fits the Pipeline, prints the validation metrics
in the form ``contract.metric_definitions()`` captures, and writes model.joblib, schema.json,
baseline.json, metrics.json, evaluation.json and model_info.json into the model directory (docs/formats.md).
The evaluation report (model quality statistics) also goes to the output data directory and, when the job
has a checkpoint location (the retraining pipeline's), to the checkpoint directory, which SageMaker copies
to S3 as it is: the registry's ModelMetrics point there.
Bad data or bad hyperparameters end the job with exit status 2, one line on stderr and the
reason in ``$SM_OUTPUT_DIR/failure`` (shown by SageMaker as the job's FailureReason).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import baseline
import contract
import dataset
import evaluation

DATA_ERROR_EXIT_CODE = 2
SERVING_CODE_DIR = "serving_code"
SAGEMAKER_OUTPUT_DIR = Path("/opt/ml/output")
FAILURE_REASON_LIMIT = 1024
SAGEMAKER_CHECKPOINT_DIR = Path("/opt/ml/checkpoints")  # CheckpointConfig.LocalPath's default


def write_failure_reason(message: str) -> None:
    output_dir = os.environ.get("SM_OUTPUT_DIR")
    target = Path(output_dir) if output_dir else SAGEMAKER_OUTPUT_DIR
    if target.is_dir():
        (target / "failure").write_text(message[:FAILURE_REASON_LIMIT], encoding="utf-8")


def fail(message: str) -> NoReturn:
    line = " ".join(message.split())
    print(line, file=sys.stderr, flush=True)
    write_failure_reason(line)
    raise SystemExit(DATA_ERROR_EXIT_CODE)


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        fail(f"HyperparameterError: {message}")


def _hyperparameter_type(hyperparameter: contract.Hyperparameter) -> Any:
    def parse(raw: str) -> str | int | float:
        try:
            return hyperparameter.parse(raw)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = hyperparameter.name
    return parse


def build_argument_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        description="Train the churn classifier (SageMaker script mode). Paths default to the SM_* "
        "variables SageMaker sets, else to /opt/ml/...; pass the flags for a by-hand run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for hyperparameter in contract.HYPERPARAMETERS:
        parser.add_argument(
            hyperparameter.flag,
            dest=hyperparameter.name,
            type=_hyperparameter_type(hyperparameter),
            default=hyperparameter.default,
            help=f"{hyperparameter.description}; {hyperparameter.expectation()}",
        )
    paths = parser.add_argument_group("paths")
    paths.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    )
    paths.add_argument(
        "--train", type=Path, default=Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    )
    paths.add_argument(
        "--validation",
        type=Path,
        default=Path(os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation")),
    )
    paths.add_argument(
        "--output-data-dir",
        type=Path,
        default=Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")),
    )
    paths.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=SAGEMAKER_CHECKPOINT_DIR,
        help="where the evaluation report is copied when the directory exists (a job with CheckpointConfig)",
    )
    return parser


def hyperparameters_from(arguments: argparse.Namespace) -> dict[str, Any]:
    return {h.name: getattr(arguments, h.name) for h in contract.HYPERPARAMETERS}


def local_model_version(channel_dirs: Sequence[Path], hyperparameters: dict[str, Any]) -> str:
    """``local-<hash>`` of the data files and hyperparameters, for runs outside a SageMaker job."""
    digest = hashlib.sha256(json.dumps(hyperparameters, sort_keys=True).encode())
    digest.update(data_sha256(channel_dirs).encode())
    return f"local-{digest.hexdigest()[:12]}"


def data_sha256(channel_dirs: Sequence[Path]) -> str:
    """The data version: a hash of every channel file's relative path and content, in channel order."""
    digest = hashlib.sha256()
    for channel_dir in channel_dirs:
        for path in dataset.channel_files(channel_dir):
            digest.update(path.relative_to(channel_dir).as_posix().encode())
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def evaluate(
    labels: np.ndarray, predictions: np.ndarray, positive_probabilities: np.ndarray
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        contract.METRIC_ACCURACY: float(accuracy_score(labels, predictions)),
        contract.METRIC_F1: float(f1_score(labels, predictions, pos_label=1, zero_division=0)),
        contract.METRIC_ROC_AUC: float(roc_auc_score(labels, positive_probabilities)),
    }


def bundle_serving_code(source_dir: Path, model_dir: Path) -> list[str]:
    """Copy ``source_dir/serving_code`` (added by the packager) into ``model_dir/code``."""
    serving_code = source_dir / SERVING_CODE_DIR
    if not serving_code.is_dir():
        return []
    target = model_dir / "code"
    shutil.copytree(
        serving_code, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return sorted(path.relative_to(target).as_posix() for path in target.rglob("*") if path.is_file())


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_evaluation(report: dict[str, Any], *directories: Path) -> list[Path]:
    """The evaluation report into each directory that exists (the model and output data dirs are made)."""
    written = []
    for directory in directories:
        if directory.is_dir():
            _write_json(directory / evaluation.REPORT_FILE, report)
            written.append(directory / evaluation.REPORT_FILE)
    return written


def train(
    hyperparameters: dict[str, Any],
    train_dir: Path,
    validation_dir: Path,
    model_dir: Path,
    output_data_dir: Path,
    source_dir: Path,
    checkpoint_dir: Path = SAGEMAKER_CHECKPOINT_DIR,
) -> dict[str, float]:
    """Fit, evaluate and write the model artifact; returns the validation metrics."""
    train_data = dataset.load_channel(train_dir, "train")
    validation_data = dataset.load_channel(validation_dir, "validation")
    # scikit-learn takes seconds to import: bad data is reported before paying for it.
    import joblib
    import sklearn

    import estimator

    print(f"train rows: {len(train_data)}, validation rows: {len(validation_data)}", flush=True)
    print(f"hyperparameters: {json.dumps(hyperparameters, sort_keys=True)}", flush=True)

    pipeline = estimator.build_pipeline(hyperparameters)
    pipeline.fit(dataset.features(train_data), dataset.labels(train_data))

    validation_features = dataset.features(validation_data)
    positive_column = list(pipeline.classes_).index(1)
    positive_probabilities = pipeline.predict_proba(validation_features)[:, positive_column]
    predictions = pipeline.predict(validation_features)
    metrics = evaluate(dataset.labels(validation_data), predictions, positive_probabilities)
    for name, value in metrics.items():
        print(contract.metric_line(name, value), flush=True)

    validation_labels = dataset.labels(validation_data)
    report = evaluation.evaluation_report(
        validation_labels, predictions, positive_probabilities, seed=int(hyperparameters["random_state"])
    )
    data_version = data_sha256([train_dir, validation_dir])
    model_version = os.environ.get("TRAINING_JOB_NAME") or local_model_version(
        [train_dir, validation_dir], hyperparameters
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / "model.joblib")
    _write_json(model_dir / "schema.json", contract.schema_document())
    baseline.write_baseline(
        baseline.compute_baseline(dataset.features(train_data), positive_probabilities),
        model_dir / "baseline.json",
    )
    _write_json(model_dir / "metrics.json", metrics)
    _write_json(
        model_dir / "model_info.json",
        {
            "model_version": model_version,
            "sklearn_version": sklearn.__version__,
            "hyperparameters": hyperparameters,
            "data_sha256": data_version,
        },
    )
    output_data_dir.mkdir(parents=True, exist_ok=True)
    _write_json(output_data_dir / "metrics.json", metrics)
    for path in write_evaluation(report, model_dir, output_data_dir, checkpoint_dir):
        print(f"evaluation report written to {path}", flush=True)
    bundled = bundle_serving_code(source_dir, model_dir)
    if bundled:
        print(f"bundled serving code into {model_dir / 'code'}: {bundled}", flush=True)
    print(f"model {model_version} written to {model_dir}", flush=True)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_argument_parser().parse_args(argv)
    hyperparameters = hyperparameters_from(arguments)
    try:
        train(
            hyperparameters,
            train_dir=arguments.train,
            validation_dir=arguments.validation,
            model_dir=arguments.model_dir,
            output_data_dir=arguments.output_data_dir,
            source_dir=Path(__file__).resolve().parent,
            checkpoint_dir=arguments.checkpoint_dir,
        )
    except dataset.DataContractError as error:
        fail(f"DataContractError: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
