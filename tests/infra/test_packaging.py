"""Archives are byte-for-byte reproducible, and their keys change exactly when their contents do."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

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
    assert before.key("code/training") == f"code/training/sourcedir-{before.sha256[:16]}.tar.gz"


def test_serving_archive_holds_only_what_the_container_imports(tmp_path: Path) -> None:
    archive = packaging.build_serving_archive(tmp_path)
    with tarfile.open(archive.path) as tar:
        assert tar.getnames() == ["inference.py", "inference_build.py", "pyproject.toml", "requirements.txt"]


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
    assert all(i.filename.startswith("monitoring/") for i in infos)
    assert "monitoring/handler.py" in [i.filename for i in infos]
    assert {i.date_time for i in infos} == {packaging._ZIP_DATE}


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
