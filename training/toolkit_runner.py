"""Run a training source archive through the real sagemaker-training toolkit, on this machine.

A local-run tool (tests, rehearsals), not shipped logic. It lays out a fresh SageMaker base
directory the way a training instance sees ``/opt/ml`` under network isolation (the source
archive arrives as the ``code`` channel) and runs the toolkit's ``train`` entry point on it in a
subprocess, so the toolkit resolves its paths from ``SAGEMAKER_BASE_DIR`` at import time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CURRENT_HOST = "algo-1"
INSTANCE_TYPE = "ml.m5.large"
CODE_CHANNEL = "code"
ARCHIVE_NAME = "sourcedir.tar.gz"
TOOLKIT_COMMAND = "from sagemaker_training.cli.train import main; main()"
# Inherited SageMaker variables would point the toolkit or the script at another run's folders.
_INHERITED_PREFIXES = ("SM_", "SAGEMAKER_")
_INHERITED_NAMES = ("TRAINING_JOB_NAME", "TRAINING_JOB_ARN")


@dataclass(frozen=True)
class ToolkitRun:
    returncode: int
    stdout: str
    stderr: str
    base_dir: Path
    elapsed_seconds: float

    @property
    def model_dir(self) -> Path:
        return self.base_dir / "model"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def failure_reason(self) -> str | None:
        """What SageMaker would report as FailureReason (first 1024 characters of output/failure)."""
        failure = self.output_dir / "failure"
        return failure.read_text(encoding="utf-8")[:1024] if failure.exists() else None


class ToolkitTimeout(TimeoutError):
    def __init__(self, timeout: float, stdout: str, stderr: str):
        super().__init__(f"the training toolkit did not finish within {timeout} s")
        self.stdout = stdout
        self.stderr = stderr


def _write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def lay_out_base_dir(
    base_dir: Path, source_archive: Path, hyperparameters: Mapping[str, str], channels: Mapping[str, Path]
) -> Path:
    """Create ``base_dir`` as SageMaker lays out /opt/ml; returns the archive's path inside it."""
    if base_dir.exists() and any(base_dir.iterdir()):
        # The toolkit silently reuses a non-empty <base>/code instead of unpacking the archive.
        raise ValueError(f"base_dir {base_dir} is not empty; every run needs a fresh folder")
    if CODE_CHANNEL in channels:
        raise ValueError(f"channel name {CODE_CHANNEL!r} is reserved for the source archive")
    if not Path(source_archive).is_file():
        raise ValueError(f"source_archive {source_archive} is not a file")
    config_dir = base_dir / "input" / "config"
    data_dir = base_dir / "input" / "data"
    config_dir.mkdir(parents=True)
    for name, source in channels.items():
        if not Path(source).is_dir():
            raise ValueError(f"channel {name!r}: {source} is not a directory")
        shutil.copytree(source, data_dir / name)
    code_channel = data_dir / CODE_CHANNEL
    code_channel.mkdir(parents=True)
    archive = code_channel / ARCHIVE_NAME
    shutil.copyfile(source_archive, archive)
    for folder in ("model", "output/data", "code"):
        (base_dir / folder).mkdir(parents=True, exist_ok=True)

    all_hyperparameters = {"sagemaker_program": "train.py", **hyperparameters}
    all_hyperparameters["sagemaker_submit_directory"] = str(archive)
    _write_json(config_dir / "hyperparameters.json", {k: str(v) for k, v in all_hyperparameters.items()})
    channel_config = {
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    input_data_config = {name: {"ContentType": "text/csv", **channel_config} for name in channels}
    input_data_config[CODE_CHANNEL] = dict(channel_config)
    _write_json(config_dir / "inputdataconfig.json", input_data_config)
    _write_json(
        config_dir / "resourceconfig.json",
        {
            "current_host": CURRENT_HOST,
            "current_instance_type": INSTANCE_TYPE,
            "current_group_name": "homogeneousCluster",
            "hosts": [CURRENT_HOST],
            "instance_groups": [
                {
                    "instance_group_name": "homogeneousCluster",
                    "instance_type": INSTANCE_TYPE,
                    "hosts": [CURRENT_HOST],
                }
            ],
            "network_interface_name": "eth0",
        },
    )
    return archive


def toolkit_environment(base_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_INHERITED_PREFIXES) and key not in _INHERITED_NAMES
    }
    clean.update(
        {
            "SAGEMAKER_BASE_DIR": str(base_dir),
            # Without it the toolkit waits (up to 15 minutes) for the host name algo-1 to resolve.
            "SM_STUDIO_LOCAL_MODE": "true",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    clean.update(env or {})
    return clean


def run_training_locally(
    source_archive: Path,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Path],
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    python_executable: str | None = None,
) -> ToolkitRun:
    """Run the toolkit on ``source_archive`` in a fresh ``base_dir``, capturing its stdout and stderr.

    ``hyperparameters`` are the job's (strings, as in CreateTrainingJob); ``sagemaker_program``
    defaults to train.py and ``sagemaker_submit_directory`` is set to the archive's place in the
    ``code`` channel. Raises ToolkitTimeout (after killing the run) if it exceeds ``timeout``.
    """
    base_dir = Path(base_dir).resolve()
    lay_out_base_dir(base_dir, Path(source_archive), hyperparameters, channels)
    started = time.monotonic()
    process = subprocess.Popen(
        [python_executable or sys.executable, "-c", TOOLKIT_COMMAND],
        cwd=base_dir,
        env=toolkit_environment(base_dir, env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The toolkit runs the script as a grandchild: end the whole session, not just the toolkit.
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise ToolkitTimeout(timeout, stdout, stderr) from None
    except BaseException:
        # Ctrl-C or SIGTERM in the caller: the toolkit's own session would otherwise outlive it.
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return ToolkitRun(
        returncode=process.returncode,
        stdout=stdout,
        stderr=stderr,
        base_dir=base_dir,
        elapsed_seconds=time.monotonic() - started,
    )
