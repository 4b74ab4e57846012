"""Shared fixtures for the training tests: sample channels, a source archive, a toolkit run."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest

import contract
import sample_data
import toolkit_runner
import train
from infra import packaging

TRAINING_DIR = Path(__file__).resolve().parents[2] / "training"
SAMPLE_ROWS = 3000
SAMPLE_SEED = 11
DATA_BUCKET = "sagestack-test-data"
ARTIFACTS_BUCKET = "sagestack-test-artifacts"


def declared_job(
    archive: Path, data_dirs: Mapping[str, Path], code_key: str | None = None
) -> tuple[dict[str, str], dict[str, toolkit_runner.S3Channel]]:
    """A network-isolated job as the stack declares it: (its sagemaker_* hyperparameters, its S3 channels).

    The code archive is stored under the stack's content-addressed key (``Archive.key``, or ``code_key``)
    and each data folder under datasets/<channel>/; the submit directory derives from the code key.
    """
    archive = Path(archive)
    key = code_key or packaging.Archive(archive, hashlib.sha256(archive.read_bytes()).hexdigest()).key(
        "code/training"
    )
    code_uri = f"s3://{ARTIFACTS_BUCKET}/{key}"
    channels = {
        name: toolkit_runner.S3Channel(
            uri=f"s3://{DATA_BUCKET}/datasets/{name}/",
            objects=toolkit_runner.objects_under(f"datasets/{name}/", folder),
            content_type="text/csv",
        )
        for name, folder in data_dirs.items()
    }
    channels[contract.CODE_CHANNEL] = toolkit_runner.S3Channel(uri=code_uri, objects={key: archive})
    hyperparameters = {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": contract.isolated_submit_directory(code_uri),
    }
    return hyperparameters, channels


def build_source_archive(
    source_dir: Path, archive: Path, extra_files: Mapping[str, bytes] | None = None
) -> Path:
    """A sourcedir.tar.gz of the *.py files of ``source_dir`` plus ``extra_files`` (archive path -> bytes).

    For archives the packager would never build (a deliberately broken train.py).
    """
    members = {path.name: path.read_bytes() for path in sorted(source_dir.glob("*.py"))}
    members.update(extra_files or {})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(members[name]))
    archive.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return archive


@pytest.fixture(scope="session")
def sample_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation) sample rows, generated once per session."""
    return sample_data.split(sample_data.generate_customers(SAMPLE_ROWS, SAMPLE_SEED), SAMPLE_SEED)


@pytest.fixture(scope="session")
def sample_channels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return sample_data.write_dataset(tmp_path_factory.mktemp("sample"), SAMPLE_ROWS, SAMPLE_SEED)


@pytest.fixture
def write_channels(tmp_path: Path) -> Callable[..., dict[str, Path]]:
    """Write given frames as CSV channel folders under tmp_path and return {channel: folder}."""

    def write(**frames: pd.DataFrame) -> dict[str, Path]:
        channels = {}
        for channel, frame in frames.items():
            folder = tmp_path / "channels" / channel
            folder.mkdir(parents=True, exist_ok=True)
            frame.to_csv(folder / f"{channel}.csv", index=False)
            channels[channel] = folder
        return channels

    return write


@pytest.fixture(scope="session")
def training_source_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training archive exactly as the stack uploads it (the one place archives are built)."""
    return packaging.build_training_archive(
        include_serving_code=False, build_dir=tmp_path_factory.mktemp("build")
    ).path


@pytest.fixture(scope="session")
def training_source_archive_with_serving_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The variant for network-isolated endpoints: serving code travels in serving_code/."""
    return packaging.build_training_archive(
        include_serving_code=True, build_dir=tmp_path_factory.mktemp("build")
    ).path


@pytest.fixture
def run_toolkit(tmp_path: Path) -> Callable[..., toolkit_runner.ToolkitRun]:
    """Run an archive as the stack's job would (``declared_job``) in a fresh base dir (120 s timeout).

    ``hyperparameters`` are added to (and override) the declared ``sagemaker_*`` ones.
    """
    runs = 0

    def run(
        archive: Path,
        hyperparameters: Mapping[str, str],
        data_dirs: Mapping[str, Path],
        code_key: str | None = None,
        **kwargs: object,
    ) -> toolkit_runner.ToolkitRun:
        nonlocal runs
        runs += 1
        kwargs.setdefault("timeout", 120)
        declared, channels = declared_job(archive, data_dirs, code_key)
        return toolkit_runner.run_training_locally(
            {**declared, **hyperparameters}, channels, tmp_path / f"opt-ml-{runs}", **kwargs
        )

    return run


@pytest.fixture
def job_env(tmp_path, monkeypatch, sample_channels) -> dict[str, Path]:
    """SageMaker-style environment variables pointing at fresh folders under tmp_path."""
    paths = {
        "SM_MODEL_DIR": tmp_path / "model",
        "SM_CHANNEL_TRAIN": sample_channels["train"],
        "SM_CHANNEL_VALIDATION": sample_channels["validation"],
        "SM_OUTPUT_DATA_DIR": tmp_path / "output" / "data",
        "SM_OUTPUT_DIR": tmp_path / "output",
    }
    paths["SM_OUTPUT_DATA_DIR"].mkdir(parents=True)
    for name, path in paths.items():
        monkeypatch.setenv(name, str(path))
    monkeypatch.delenv("TRAINING_JOB_NAME", raising=False)
    monkeypatch.setattr(train, "SAGEMAKER_OUTPUT_DIR", tmp_path / "no-opt-ml-output")
    return paths
