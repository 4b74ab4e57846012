"""Archives are byte-for-byte reproducible, and their keys change exactly when their contents do."""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from infra import packaging


def test_same_code_gives_the_same_bytes(tmp_path: Path) -> None:
    first = packaging.build_training_archive(include_serving_code=False, build_dir=tmp_path / "a")
    second = packaging.build_training_archive(include_serving_code=False, build_dir=tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    assert (
        packaging.build_monitoring_archive(tmp_path / "a").sha256
        == packaging.build_monitoring_archive(tmp_path / "b").sha256
    )


def test_archive_metadata_is_fixed(tmp_path: Path) -> None:
    archive = packaging.build_training_archive(include_serving_code=False, build_dir=tmp_path)
    data = archive.path.read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(archive.path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert "train.py" in names and "contract.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {
        (packaging._FIXED_MTIME, 0, 0, "root", 0o644)
    }


def test_a_changed_file_changes_the_hash_and_the_key(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(packaging.TRAINING_DIR, source, ignore=shutil.ignore_patterns("__pycache__"))
    before = packaging.deterministic_tar_gz(
        packaging.source_files(source), tmp_path / "1" / "sourcedir.tar.gz"
    )
    (source / "train.py").write_text((source / "train.py").read_text() + "\n# changed\n")
    after = packaging.deterministic_tar_gz(
        packaging.source_files(source), tmp_path / "2" / "sourcedir.tar.gz"
    )
    assert before.sha256 != after.sha256
    assert before.key("code/training") != after.key("code/training")
    # The hash lives in the folder; the file keeps its own name, which SageMaker stages a one-object channel under.
    assert before.key("code/training") == f"code/training/{before.sha256[:16]}/sourcedir.tar.gz"
    assert packaging.build_monitoring_archive(tmp_path).key("code/monitoring").endswith("/drift-engine.zip")


def test_serving_archive_holds_only_what_the_container_imports(tmp_path: Path) -> None:
    archive = packaging.build_serving_archive(tmp_path)
    with tarfile.open(archive.path) as tar:
        assert tar.getnames() == [
            "compiled_estimator.py",
            "inference.py",
            "inference_build.py",
            "pyproject.toml",
            "requirements.txt",
        ]


def test_training_archive_carries_serving_code_only_when_asked(tmp_path: Path) -> None:
    with_code = packaging.build_training_archive(include_serving_code=True, build_dir=tmp_path)
    with tarfile.open(with_code.path) as tar:
        names = tar.getnames()
    assert f"{packaging.SERVING_CODE_DIR}/inference.py" in names
    plain = packaging.build_training_archive(include_serving_code=False, build_dir=tmp_path)
    assert plain.sha256 != with_code.sha256


def test_lambda_zip_has_the_package_at_its_root_with_fixed_dates(tmp_path: Path) -> None:
    archive = packaging.build_monitoring_archive(tmp_path)
    with zipfile.ZipFile(io.BytesIO(archive.path.read_bytes())) as zf:
        infos = zf.infolist()
    ours = [i.filename for i in infos if not i.filename.startswith("msgspec")]
    assert all(name.startswith("monitoring/") for name in ours)
    assert "monitoring/handler.py" in ours
    assert {i.date_time for i in infos} == {packaging._ZIP_DATE}


def _wheel_tags(names: list[str], read) -> list[str]:
    wheel_file = next(name for name in names if name.endswith(".dist-info/WHEEL"))
    return [
        line.split(": ", 1)[1] for line in read(wheel_file).decode().splitlines() if line.startswith("Tag: ")
    ]


@pytest.mark.parametrize(
    ("architecture", "machine"),
    # Lambda names its ARM architecture arm64; wheels and CPython extensions name it aarch64 (PEP 599 tags).
    [("x86_64", "x86_64"), ("arm64", "aarch64")],
)
def test_lambda_zip_carries_msgspec_compiled_for_the_functions_python_and_architecture(
    tmp_path: Path, architecture: str, machine: str
) -> None:
    archive = packaging.build_monitoring_archive(tmp_path, python_version="3.12", architecture=architecture)
    with zipfile.ZipFile(archive.path) as zf:
        names = zf.namelist()
        tags = _wheel_tags(names, zf.read)
    # CPython 3.12 on Linux loads extension modules named <module>.cpython-312-<machine>-linux-gnu.so
    assert f"msgspec/_core.cpython-312-{machine}-linux-gnu.so" in names
    assert "msgspec/__init__.py" in names and "msgspec/json.py" in names
    assert tags and all(tag.startswith("cp312-cp312-manylinux") and tag.endswith(machine) for tag in tags)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), "the licence ships with it"


def test_the_lambda_pin_is_the_version_the_tests_run_on() -> None:
    lambda_pin = re.search(r"^msgspec==(\S+)", packaging.MONITORING_REQUIREMENTS.read_text(), re.M)
    test_pin = re.search(r"^msgspec==(\S+)", (packaging.PROJECT_ROOT / "requirements.txt").read_text(), re.M)
    assert lambda_pin and test_pin and lambda_pin[1] == test_pin[1] == importlib.metadata.version("msgspec")


def test_an_unknown_lambda_architecture_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=re.escape("architecture: expected one of ['arm64', 'x86_64'], got 'sparc'")
    ):
        packaging.build_monitoring_archive(tmp_path, architecture="sparc")


def test_missing_container_file_is_a_clear_error(tmp_path: Path) -> None:
    try:
        packaging.source_files(tmp_path, ["inference.py"])
    except FileNotFoundError as error:
        assert "missing inference.py" in str(error)
    else:
        raise AssertionError("expected FileNotFoundError")


def test_gzip_stream_is_valid(tmp_path: Path) -> None:
    archive = packaging.build_serving_archive(tmp_path)
    assert gzip.decompress(archive.path.read_bytes())[:100]
