"""End to end: train with the real training code, pack as SageMaker does, serve over loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pack_code, pack_directory, with_bundled_code
from http_client import invoke, request

import local_server

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
        "model": pack_directory(model_dir, root / "model.tar.gz"),
        "model_with_code": pack_directory(
            with_bundled_code(model_dir, root / "bundled"), root / "bundled.tar.gz"
        ),
        "code": pack_code(root / "sourcedir.tar.gz"),
        "validation": root / "data" / "validation",
    }


def validation_rows(trained: dict[str, Path], count: int) -> tuple[list[str], list[list[object]]]:
    import pandas as pd

    frame = pd.concat(pd.read_csv(path) for path in sorted(trained["validation"].glob("*.csv")))
    schema = json.loads((trained["model_dir"] / "schema.json").read_text())
    names = [feature["name"] for feature in schema["features"]]
    return names, frame[names].head(count).astype(object).values.tolist()


@pytest.mark.parametrize("layout", ["separate_code_archive", "code_inside_model"])
def test_trained_model_served_in_both_layouts(trained, layout):
    names, rows = validation_rows(trained, 25)
    model_info = json.loads((trained["model_dir"] / "model_info.json").read_text())
    if layout == "separate_code_archive":
        running = local_server.serve(trained["model"], trained["code"])
    else:
        running = local_server.serve(trained["model_with_code"])
    with running:
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
