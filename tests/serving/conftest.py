"""Fixtures for the serving tests: a small model directory per docs/formats.md, and archives of it."""

from __future__ import annotations

import json
import pickle
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import inference
from infra.packaging import SERVING_FILES

SERVING_DIR = Path(__file__).resolve().parents[2] / "serving"
FIXTURE_MODEL_VERSION = "fixture-model-v1"

NUMERIC = {
    "tenure_months": (0, 120),
    "monthly_charges": (0, 200),
    "total_charges": (0, 25000),
    "support_calls": (0, 50),
    "age": (18, 100),
}
CATEGORICAL = {
    "contract": ["month-to-month", "one-year", "two-year"],
    "payment_method": ["electronic-check", "mailed-check", "bank-transfer", "credit-card"],
    "internet_service": ["dsl", "fiber-optic", "none"],
}
SCHEMA: dict[str, Any] = {
    "format_version": 1,
    "label": "churned",
    "classes": [0, 1],
    "features": [{"name": n, "type": "numeric", "min": lo, "max": hi} for n, (lo, hi) in NUMERIC.items()]
    + [{"name": n, "type": "categorical", "categories": c} for n, c in CATEGORICAL.items()],
}
FEATURE_NAMES = [f["name"] for f in SCHEMA["features"]]
SAMPLE_ROW: list[Any] = [12, 70.5, 846.0, 2, 41, "month-to-month", "electronic-check", "fiber-optic"]
SAMPLE_OBJECT = dict(zip(FEATURE_NAMES, SAMPLE_ROW, strict=True))


def synthetic_frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {n: rng.uniform(lo, hi, rows) for n, (lo, hi) in NUMERIC.items()}
    data.update({n: rng.choice(c, rows) for n, c in CATEGORICAL.items()})
    frame = pd.DataFrame(data, columns=FEATURE_NAMES)
    logit = (
        1.5 * (frame["contract"] == "month-to-month")
        - 0.04 * frame["tenure_months"]
        + 0.2 * frame["support_calls"]
    )
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return frame, labels


def dump_model(pipeline: Any, path: Path) -> None:
    """Pickle with the C pickler, which joblib.load reads: pulumi imports dill, which extends the Python
    pickler that joblib.dump copies, so its pickles would name dill, which the serving stack (like the
    image) does not have."""
    with path.open("wb") as handle:
        pickle.dump(pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)


def build_model_dir(directory: Path, model_version: str = FIXTURE_MODEL_VERSION) -> Path:
    """model.joblib + schema.json + model_info.json, as training writes them (docs/formats.md)."""
    directory.mkdir(parents=True, exist_ok=True)
    frame, labels = synthetic_frame(600, seed=3)
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("numeric", StandardScaler(), list(NUMERIC)),
                        (
                            "categorical",
                            OneHotEncoder(categories=list(CATEGORICAL.values()), handle_unknown="ignore"),
                            list(CATEGORICAL),
                        ),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=500)),
        ]
    )
    pipeline.fit(frame, labels)
    dump_model(pipeline, directory / "model.joblib")
    (directory / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    (directory / "model_info.json").write_text(
        json.dumps({"model_version": model_version, "sklearn_version": "fixture", "hyperparameters": {}}),
        encoding="utf-8",
    )
    return directory


def pack_directory(source: Path, archive: Path) -> Path:
    """A .tar.gz with the contents of ``source`` at the archive root, as SageMaker packs /opt/ml/model."""
    with tarfile.open(archive, "w:gz") as tar:
        for entry in sorted(source.iterdir()):
            tar.add(entry, arcname=entry.name)
    return archive


def pack_code(archive: Path) -> Path:
    """The serving code archive: the files the stack packs (infra/packaging.py) at the root."""
    with tarfile.open(archive, "w:gz") as tar:
        for name in SERVING_FILES:
            tar.add(SERVING_DIR / name, arcname=name)
    return archive


def with_bundled_code(model_dir: Path, destination: Path) -> Path:
    """A copy of ``model_dir`` with the serving code under code/ (the network-isolation layout)."""
    shutil.copytree(model_dir, destination)
    (destination / "code").mkdir()
    for name in SERVING_FILES:
        shutil.copy2(SERVING_DIR / name, destination / "code" / name)
    return destination


@pytest.fixture(autouse=True)
def _clean_serving_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGESTACK_MODEL_VERSION", raising=False)
    monkeypatch.delenv("SAGESTACK_MAX_ROWS", raising=False)
    monkeypatch.delenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", raising=False)


@pytest.fixture(scope="session")
def fixture_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("fixture") / "model")


@pytest.fixture(scope="session")
def loaded_model(fixture_model_dir: Path) -> inference.LoadedModel:
    return inference.load_model(str(fixture_model_dir))


@pytest.fixture
def invoke(loaded_model: inference.LoadedModel) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Call inference.handle and decode its JSON answer."""

    def call(body: bytes | str, content_type: str = "application/json", accept: str = "application/json"):
        status, payload, payload_type = inference.handle(loaded_model, body, content_type, accept)
        assert payload_type == "application/json"
        return status, json.loads(payload)

    return call


def save_model_directory(root: Path, name: str, pipeline: Any) -> Path:
    """``root/name`` as training writes a model: the fitted pipeline, the contract's schema and model_info."""
    import contract

    directory = root / name
    directory.mkdir()
    joblib.dump(pipeline, directory / "model.joblib")
    (directory / "schema.json").write_text(json.dumps(contract.schema_document()), encoding="utf-8")
    (directory / "model_info.json").write_text(json.dumps({"model_version": name}), encoding="utf-8")
    return directory
