"""Deterministic archives of the runtime code: the same files always give the same bytes.

Byte-for-byte reproducibility is what keeps `pulumi preview` quiet: an archive's S3 key carries the hash
of its bytes, so unchanged code means an unchanged key, and a changed file means a new key (and, for
training, a new job).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.config_schema import PROJECT_ROOT

TRAINING_DIR = PROJECT_ROOT / "training"
SERVING_DIR = PROJECT_ROOT / "serving"
MONITORING_DIR = PROJECT_ROOT / "monitoring"
BUILD_DIR = PROJECT_ROOT / ".build"

# Files the serving container needs; local tools in serving/ (local server, verifier) stay out.
# pyproject.toml + inference_build.py let the container's startup `pip install .` build with no index.
SERVING_FILES = ("inference.py", "requirements.txt", "pyproject.toml", "inference_build.py")
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

    def key(self, prefix: str) -> str:
        """An S3 key that changes exactly when the bytes do."""
        stem, _, suffix = self.path.name.partition(".")
        return f"{prefix}/{stem}-{self.short_hash}.{suffix}"


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


def _write(destination: Path, data: bytes) -> Archive:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not destination.is_file() or destination.read_bytes() != data:
        destination.write_bytes(data)
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


def build_monitoring_archive(build_dir: Path = BUILD_DIR) -> Archive:
    """The drift engine package as a Lambda deployment zip (`monitoring/` at the zip root)."""
    members = {f"monitoring/{name}": path for name, path in source_files(MONITORING_DIR).items()}
    return deterministic_zip(members, build_dir / "monitoring" / "drift-engine.zip")
