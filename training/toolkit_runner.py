"""Run a training job's declared inputs through the real sagemaker-training toolkit, on this machine.

A local-run tool (tests, rehearsals), not shipped logic. It lays out a fresh SageMaker base directory the
way a training instance sees ``/opt/ml``: every channel is described as S3 sees it (the channel's S3 URI
and the objects in its bucket, key -> local bytes), and each object is staged where SageMaker would put it
(``contract.staged_paths``), so file names come from the keys. The job's hyperparameters are written as
declared; a ``sagemaker_submit_directory`` inside /opt/ml is only re-rooted onto the base directory. A job
that points at a file its channels do not hold fails here as it would in SageMaker.
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
from dataclasses import dataclass, field
from pathlib import Path

import contract

CURRENT_HOST = "algo-1"
INSTANCE_TYPE = "ml.m5.large"
TOOLKIT_COMMAND = "from sagemaker_training.cli.train import main; main()"
# Inherited SageMaker variables would point the toolkit or the script at another run's folders.
_INHERITED_PREFIXES = ("SM_", "SAGEMAKER_")
_INHERITED_NAMES = ("TRAINING_JOB_NAME", "TRAINING_JOB_ARN")


@dataclass(frozen=True)
class S3Channel:
    """An S3Prefix channel: its S3Uri, and the objects of its bucket (key -> a local file with the object's bytes).

    ``objects`` may hold keys outside the prefix, as a bucket does; only matching keys are staged.
    """

    uri: str
    objects: Mapping[str, Path]
    content_type: str | None = None
    bucket: str = field(init=False)
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        bucket, prefix = contract.split_s3_uri(self.uri)
        object.__setattr__(self, "bucket", bucket)
        object.__setattr__(self, "prefix", prefix)


def objects_under(prefix: str, folder: Path) -> dict[str, Path]:
    """The files below ``folder`` as objects under key ``prefix`` (as `aws s3 cp --recursive` would upload them)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a directory")
    base = prefix.rstrip("/")
    return {
        f"{base}/{path.relative_to(folder).as_posix()}": path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


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


def stage_channel(name: str, channel: S3Channel, channel_dir: Path) -> list[str]:
    """Copy the channel's matching objects to where SageMaker puts them; returns their relative paths."""
    plan = contract.staged_paths(channel.prefix, channel.objects)
    if not plan:
        # CreateTrainingJob itself refuses an S3Prefix channel that matches no object.
        raise ValueError(f"channel {name!r}: no object under {channel.uri}; expected at least one")
    for key, relative in plan.items():
        source = Path(channel.objects[key])
        if not source.is_file():
            raise ValueError(f"channel {name!r}: object {key!r} has no local file ({source})")
        target = channel_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return sorted(plan.values())


def local_path(container_path: str, base_dir: Path) -> str:
    """A path the job declares inside /opt/ml, re-rooted onto the local base directory; other values unchanged."""
    root = contract.CONTAINER_ROOT
    if container_path == root or container_path.startswith(f"{root}/"):
        return str(base_dir) + container_path[len(root) :]
    return container_path


def lay_out_base_dir(
    base_dir: Path, hyperparameters: Mapping[str, str], channels: Mapping[str, S3Channel]
) -> dict[str, list[str]]:
    """Create ``base_dir`` as SageMaker lays out /opt/ml; returns each channel's staged files."""
    if base_dir.exists() and any(base_dir.iterdir()):
        # The toolkit silently reuses a non-empty <base>/code instead of unpacking the archive.
        raise ValueError(f"base_dir {base_dir} is not empty; every run needs a fresh folder")
    config_dir = base_dir / "input" / "config"
    data_dir = base_dir / "input" / "data"
    config_dir.mkdir(parents=True)
    staged = {name: stage_channel(name, channel, data_dir / name) for name, channel in channels.items()}
    for folder in ("model", "output/data", "code"):
        (base_dir / folder).mkdir(parents=True, exist_ok=True)

    declared = {"sagemaker_program": "train.py", **{k: str(v) for k, v in hyperparameters.items()}}
    if "sagemaker_submit_directory" in declared:
        declared["sagemaker_submit_directory"] = local_path(declared["sagemaker_submit_directory"], base_dir)
    _write_json(config_dir / "hyperparameters.json", declared)
    channel_config = {
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    _write_json(
        config_dir / "inputdataconfig.json",
        {
            name: ({"ContentType": c.content_type} if c.content_type else {}) | channel_config
            for name, c in channels.items()
        },
    )
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
    return staged


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
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, S3Channel],
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    python_executable: str | None = None,
) -> ToolkitRun:
    """Run the toolkit on a job's hyperparameters and channels in a fresh ``base_dir``, capturing its output.

    ``hyperparameters`` are the job's (strings, as in CreateTrainingJob, ``sagemaker_*`` keys included;
    ``sagemaker_program`` defaults to train.py). Raises ToolkitTimeout (after killing the run) if it
    exceeds ``timeout``.
    """
    base_dir = Path(base_dir).resolve()
    lay_out_base_dir(base_dir, hyperparameters, channels)
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
