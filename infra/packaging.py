"""Deterministic archives of the runtime code: the same files always give the same bytes.

Byte-for-byte reproducibility is what keeps `pulumi preview` quiet: an archive's S3 key carries the hash
of its bytes in its folder, so unchanged code means an unchanged key, and a changed file means a new key
(and, for training, a new job). The file name itself stays the archive's own (`sourcedir.tar.gz`): SageMaker
stages a single-object channel under the object's file name, and the toolkit is told that name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.config_schema import PROJECT_ROOT

TRAINING_DIR = PROJECT_ROOT / "training"
SERVING_DIR = PROJECT_ROOT / "serving"
MONITORING_DIR = PROJECT_ROOT / "monitoring"
BUILD_DIR = PROJECT_ROOT / ".build"

# The drift engine's Lambda: its Python and architecture decide which wheels its zip must carry.
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_ARCHITECTURE = "x86_64"
MONITORING_REQUIREMENTS = MONITORING_DIR / "requirements.txt"
# Lambda's x86_64 and arm64 run Amazon Linux 2023 (glibc 2.34): manylinux wheels up to 2_28 load there.
LAMBDA_PLATFORM_TAGS = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"),
}

# Files the serving container needs; local tools in serving/ (local server, verifier) stay out.
# pyproject.toml + inference_build.py let the container's startup `pip install .` build with no index.
SERVING_FILES = (
    "inference.py",
    "compiled_estimator.py",
    "requirements.txt",
    "pyproject.toml",
    "inference_build.py",
)
# Where train.py finds serving code to copy into the model artifact (for network-isolated endpoints).
SERVING_CODE_DIR = "serving_code"
_EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_FIXED_MTIME = 1_577_836_800  # 2020-01-01T00:00:00Z; any constant works, zero upsets some unpackers
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str

    @property
    def short_hash(self) -> str:
        return self.sha256[:16]

    @property
    def file_name(self) -> str:
        return self.path.name

    def key(self, prefix: str) -> str:
        """`<prefix>/<hash>/<file name>`: changes exactly when the bytes do, and keeps the file's own name."""
        return f"{prefix}/{self.short_hash}/{self.file_name}"


def source_files(directory: Path, only: Iterable[str] | None = None) -> dict[str, Path]:
    """Archive member name -> file, for the code files below `directory` (caches and bytecode skipped)."""
    if only is not None:
        files = {name: directory / name for name in only}
        missing = [name for name, path in files.items() if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"{directory}: missing {', '.join(missing)}")
        return files
    found = {}
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if path.is_file() and not _EXCLUDED_PARTS.intersection(relative.parts) and path.suffix != ".pyc":
            found[relative.as_posix()] = path
    return found


def deterministic_tar_gz(members: Mapping[str, Path], destination: Path) -> Archive:
    """A gzipped tar of `members` with sorted entries, fixed mtimes, root ownership and gzip mtime 0."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            data = members[name].read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = _FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return _write(destination, compressed.getvalue())


def deterministic_zip(members: Mapping[str, Path], destination: Path) -> Archive:
    """A zip of `members` with sorted entries and fixed timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name].read_bytes())
    return _write(destination, buffer.getvalue())


# Two programs may build into the same .build at once (stacks previewed side by side from one checkout, test
# workers): a file or folder appears whole under its final name, by rename, or not at all.
def _write(destination: Path, data: bytes) -> Archive:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not destination.is_file() or destination.read_bytes() != data:
        with tempfile.NamedTemporaryFile(dir=destination.parent, prefix=".partial-", delete=False) as file:
            file.write(data)
        os.replace(file.name, destination)
    return Archive(path=destination, sha256=hashlib.sha256(data).hexdigest())


def build_training_archive(*, include_serving_code: bool, build_dir: Path = BUILD_DIR) -> Archive:
    """training/ as SageMaker's sourcedir.tar.gz; with the serving code inside when the model must carry it."""
    members = source_files(TRAINING_DIR)
    if include_serving_code:
        for name, path in source_files(SERVING_DIR, SERVING_FILES).items():
            members[f"{SERVING_CODE_DIR}/{name}"] = path
    variant = "with-serving" if include_serving_code else "plain"
    return deterministic_tar_gz(members, build_dir / "training" / variant / "sourcedir.tar.gz")


def build_serving_archive(build_dir: Path = BUILD_DIR) -> Archive:
    """The inference handlers as the sklearn serving container's SAGEMAKER_SUBMIT_DIRECTORY archive."""
    return deterministic_tar_gz(
        source_files(SERVING_DIR, SERVING_FILES), build_dir / "serving" / "sourcedir.tar.gz"
    )


def pinned_hashes(requirements: Path) -> set[str]:
    """Every sha256 a requirements file pins (pip's --hash=sha256:...)."""
    return set(re.findall(r"--hash=sha256:([0-9a-f]{64})", requirements.read_text()))


def lambda_wheels(
    requirements: Path, *, python_version: str, architecture: str, build_dir: Path = BUILD_DIR
) -> list[Path]:
    """The hash-pinned wheels of `requirements` for a Lambda runtime, downloaded once into build_dir.

    pip resolves them for the Lambda's interpreter and platform, not this machine's, and refuses any file
    whose hash is not pinned; the wheels are kept, so later builds need no network.
    """
    if architecture not in LAMBDA_PLATFORM_TAGS:
        raise ValueError(
            f"architecture: expected one of {sorted(LAMBDA_PLATFORM_TAGS)}, got {architecture!r}"
        )
    pinned = pinned_hashes(requirements)
    destination = build_dir / "wheels" / f"cp{python_version.replace('.', '')}-{architecture}"

    def cached() -> list[Path]:
        return sorted(
            p for p in destination.glob("*.whl") if hashlib.sha256(p.read_bytes()).hexdigest() in pinned
        )

    names = [line.split("==")[0].strip() for line in requirements.read_text().splitlines() if "==" in line]
    if len(cached()) < len(names):
        destination.mkdir(parents=True, exist_ok=True)
        abi = f"cp{python_version.replace('.', '')}"
        platforms = [arg for tag in LAMBDA_PLATFORM_TAGS[architecture] for arg in ("--platform", tag)]
        with tempfile.TemporaryDirectory(dir=destination, prefix=".partial-") as download:
            subprocess.run(
                [
                    sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--only-binary=:all:", "--require-hashes", "--implementation", "cp",
                    "--python-version", python_version, "--abi", abi, *platforms,
                    "-r", str(requirements), "-d", download,
                ],
                check=True,
            )  # fmt: skip
            for wheel in Path(download).glob("*.whl"):
                os.replace(wheel, destination / wheel.name)
    wheels = cached()
    if len(wheels) != len(names):
        raise RuntimeError(
            f"{requirements}: expected {len(names)} pinned wheels in {destination}, found {wheels}"
        )
    return wheels


def unpacked_wheel(wheel: Path) -> dict[str, Path]:
    """Archive member name -> file of a wheel's contents, unpacked beside it (a wheel installs by unzipping)."""
    target = wheel.with_suffix("")
    with zipfile.ZipFile(wheel) as archive:
        names = [name for name in archive.namelist() if not name.endswith("/")]

        def whole() -> bool:
            return all((target / name).is_file() for name in names)

        if not whole():
            unpacked = Path(tempfile.mkdtemp(dir=wheel.parent, prefix=".partial-"))
            archive.extractall(unpacked)
            try:
                unpacked.rename(target)
            except OSError:  # the name is taken: by another build's whole folder, or by a broken one
                if not whole():
                    stale = target.rename(Path(tempfile.mkdtemp(dir=wheel.parent, prefix=".stale-")) / "old")
                    unpacked.rename(target)
                    shutil.rmtree(stale.parent)
                shutil.rmtree(unpacked, ignore_errors=True)
    return {name: target / name for name in names}


def build_monitoring_archive(
    build_dir: Path = BUILD_DIR,
    *,
    python_version: str = LAMBDA_PYTHON_VERSION,
    architecture: str = LAMBDA_ARCHITECTURE,
) -> Archive:
    """The drift engine as a Lambda deployment zip: `monitoring/` and its pinned wheels' files at the root."""
    members = {f"monitoring/{name}": path for name, path in source_files(MONITORING_DIR).items()}
    for wheel in lambda_wheels(
        MONITORING_REQUIREMENTS, python_version=python_version, architecture=architecture, build_dir=build_dir
    ):
        members.update(unpacked_wheel(wheel))
    return deterministic_zip(members, build_dir / "monitoring" / architecture / "drift-engine.zip")
