"""End to end: train with the real training code, pack as SageMaker does, serve over loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

import local_server
from tests.serving.conftest import pack_directory, with_bundled_code
from tests.serving.http_client import invoke, request

TRAINING_DIR = Path(__file__).resolve().parents[2] / "training"

pytestmark = pytest.mark.slow


def run(script: str, *arguments: str) -> None:
    subprocess.run([sys.executable, str(TRAINING_DIR / script), *arguments], check=True, capture_output=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trained")
    run("sample_data.py", "--out", str(root / "data"), "--rows", "1500", "--seed", "7")
    model_dir = root / "model"
    run(
        "train.py",
        "--model-dir", str(model_dir),
        "--train", str(root / "data" / "train"),
        "--validation", str(root / "data" / "validation"),
        "--output-data-dir", str(root / "output"),
        "--n_estimators", "20",
    )  # fmt: skip
    return {
        "model_dir": model_dir,
        "model_with_code": pack_directory(
            with_bundled_code(model_dir, root / "bundled"), root / "bundled.tar.gz"
        ),
        "validation": root / "data" / "validation",
    }


def validation_rows(trained: dict[str, Path], count: int) -> tuple[list[str], list[list[object]]]:
    frame = pd.concat(pd.read_csv(path) for path in sorted(trained["validation"].glob("*.csv")))
    schema = json.loads((trained["model_dir"] / "schema.json").read_text())
    names = [feature["name"] for feature in schema["features"]]
    return names, frame[names].head(count).astype(object).values.tolist()


# One layout: where the code travels is the model's business in neither case, and both layouts are started and
# answered by test_serving_local_server's `server` fixture. This is the one network-isolated endpoints use.
def test_the_trained_model_is_served_with_its_pipelines_answers(trained):
    names, rows = validation_rows(trained, 25)
    model_info = json.loads((trained["model_dir"] / "model_info.json").read_text())
    with local_server.serve(trained["model_with_code"]) as running:
        assert request(running.url, "GET", "/ping")[0] == 200
        answers = [
            invoke(running.url, json.dumps({"instances": rows}), "application/json"),
            invoke(running.url, json.dumps({"instances": [dict(zip(names, r, strict=True)) for r in rows]})),
            invoke(running.url, "\n".join(",".join(map(str, r)) for r in rows), "text/csv"),
        ]
        for status, answer in answers:
            assert status == 200
            assert answer["model_version"] == model_info["model_version"]
            assert answer["classes"] == [0, 1]
            assert len(answer["predictions"]) == 25
            assert all(sum(p) == pytest.approx(1.0) for p in answer["probabilities"])
        assert answers[0][1] == answers[1][1]
        # What the container answers is the fitted Pipeline's own predict_proba (issue 13: |Δp| <= 1e-12),
        # whichever request path served it: 25 rows and one row (the estimator kernel's range).
        pipeline = joblib.load(trained["model_dir"] / "model.joblib")
        expected = pipeline.predict_proba(pd.DataFrame(rows, columns=names))
        assert (
            max(
                abs(a - b)
                for got, want in zip(answers[0][1]["probabilities"], expected, strict=True)
                for a, b in zip(got, want, strict=True)
            )
            <= 1e-12
        )
        status, one = invoke(running.url, json.dumps({"instances": rows[:1]}))
        assert status == 200
        assert max(abs(a - b) for a, b in zip(one["probabilities"][0], expected[0], strict=True)) <= 1e-12
        # A finite number the float32 tree model cannot take is the client's 400, never a 5xx that rolls back.
        huge = dict(zip(names, rows[0], strict=True)) | {"total_charges": 1e300}
        status, answer = invoke(running.url, json.dumps({"instances": [huge]}))
        assert (status, answer["error"]["code"], answer["error"]["field"]) == (
            400,
            "out_of_range",
            "total_charges",
        )
        for row_a, row_c in zip(answers[0][1]["probabilities"], answers[2][1]["probabilities"], strict=True):
            assert row_a == pytest.approx(row_c, rel=1e-9)

        bad_row = dict(zip(names, rows[0], strict=True)) | {"contract": "weekly"}
        status, answer = invoke(running.url, json.dumps({"instances": [bad_row]}))
        assert (status, answer["error"]["code"], answer["error"]["field"]) == (
            400,
            "unknown_category",
            "contract",
        )
        status, answer = invoke(running.url, "1,2,3", "text/csv")
        assert (status, answer["error"]["code"]) == (400, "wrong_column_count")
        status, answer = invoke(running.url, json.dumps({"instances": rows}), "application/x-npy")
        assert status == 415
