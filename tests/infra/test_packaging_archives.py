"""Archive layout, file selection, write-once behaviour and the Lambda wheel cache, with no pip run.

The Lambda wheel tests seed the wheel cache with small wheels whose hashes a requirements file pins, and
replace `subprocess.run` so that any pip call is either recorded or refused: they run in milliseconds and
need no network (tests/infra/test_packaging.py covers the real download).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from infra import packaging


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _wheel(folder: Path, name: str) -> tuple[Path, str]:
    """A tiny valid wheel (a zip) and its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", f"NAME = {name!r}\n")
        archive.writestr(f"{name}-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _requirements(path: Path, pins: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}==1.0 \\\n    --hash=sha256:{digest}\n" for name, digest in pins.items()))
    return path


def _refuse_pip(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"pip ran although the wheel cache was complete: {args}")


# --- source_files ---------------------------------------------------------------------------------------


def test_source_files_lists_files_only_and_skips_bytecode_and_caches(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "main.py": "",
            "pkg/helper.py": "",
            "stale.pyc": "",
            "pkg/__pycache__/helper.cpython-311.pyc": "",
            ".mypy_cache/x.json": "",
        },
    )
    assert packaging.source_files(root) == {
        "main.py": root / "main.py",
        "pkg/helper.py": root / "pkg/helper.py",
    }


def test_source_files_names_every_missing_file_in_one_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path}: missing a.py, b.py")):
        packaging.source_files(tmp_path, ["a.py", "b.py"])


# --- deterministic archives -----------------------------------------------------------------------------


def test_gzip_header_carries_no_file_name(tmp_path: Path) -> None:
    members = {"a.txt": _tree(tmp_path / "src", {"a.txt": "x"}) / "a.txt"}
    data = packaging.deterministic_tar_gz(members, tmp_path / "out.tar.gz").path.read_bytes()
    # RFC 1952 section 2.3: byte 3 is FLG; bit 3 (0x08) is FNAME. No name, no bytes that vary with it.
    assert data[:3] == b"\x1f\x8b\x08"
    assert data[3] == 0


def test_zip_entries_are_unix_files_readable_by_all(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"a.py": "print(1)\n" * 50, "b/c.py": ""})
    archive = packaging.deterministic_zip(packaging.source_files(src), tmp_path / "out.zip")
    with zipfile.ZipFile(archive.path) as zf:
        infos = zf.infolist()
    # PKWARE APPNOTE 4.4.15: for files made on Unix the high 16 bits of external attributes are st_mode.
    assert [(i.filename, i.external_attr >> 16) for i in infos] == [("a.py", 0o644), ("b/c.py", 0o644)]
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    assert {i.date_time for i in infos} == {(2020, 1, 1, 0, 0, 0)}


def test_write_into_an_existing_folder_rewrites_only_changed_bytes(tmp_path: Path) -> None:
    destination = tmp_path / "out" / "a.zip"
    destination.parent.mkdir()
    first = packaging._write(destination, b"one")
    assert destination.read_bytes() == b"one"
    assert first.sha256 == hashlib.sha256(b"one").hexdigest()
    os.utime(destination, ns=(1, 1))
    packaging._write(destination, b"one")
    assert destination.stat().st_mtime_ns == 1, "unchanged bytes leave the file untouched"
    second = packaging._write(destination, b"two")
    assert destination.read_bytes() == b"two"
    assert second.sha256 == hashlib.sha256(b"two").hexdigest()


def test_an_archive_key_is_prefix_hash_folder_and_file_name(tmp_path: Path) -> None:
    archive = packaging.Archive(path=tmp_path / "drift-engine.zip", sha256="0123456789abcdef" + "f" * 48)
    assert archive.key("code/monitoring") == "code/monitoring/0123456789abcdef/drift-engine.zip"


# --- where each archive goes and what it holds -----------------------------------------------------------


def test_training_archives_are_sourcedir_tar_gz_in_one_folder_per_variant(tmp_path: Path) -> None:
    plain = packaging.build_training_archive(include_serving_code=False, build_dir=tmp_path)
    with_code = packaging.build_training_archive(include_serving_code=True, build_dir=tmp_path)
    # The SageMaker toolkit is told the file name of a one-object channel (module docstring): sourcedir.tar.gz.
    assert plain.path == tmp_path / "training" / "plain" / "sourcedir.tar.gz"
    assert with_code.path == tmp_path / "training" / "with-serving" / "sourcedir.tar.gz"
    assert plain.path.is_file() and with_code.path.is_file()


def test_serving_code_inside_the_training_archive_is_only_the_container_files(tmp_path: Path) -> None:
    archive = packaging.build_training_archive(include_serving_code=True, build_dir=tmp_path)
    with tarfile.open(archive.path) as tar:
        inside = sorted(n for n in tar.getnames() if n.startswith("serving_code/"))
    assert inside == [
        "serving_code/compiled_estimator.py",
        "serving_code/inference.py",
        "serving_code/inference_build.py",
        "serving_code/pyproject.toml",
        "serving_code/requirements.txt",
    ]


def test_serving_archive_is_sourcedir_tar_gz_under_serving(tmp_path: Path) -> None:
    archive = packaging.build_serving_archive(tmp_path)
    assert archive.path == tmp_path / "serving" / "sourcedir.tar.gz"
    assert archive.path.is_file()


# --- Lambda wheels --------------------------------------------------------------------------------------


def test_a_complete_wheel_cache_is_used_without_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "build" / "wheels" / "cp312-x86_64"
    first, first_hash = _wheel(cache, "alpha")
    second, second_hash = _wheel(cache, "beta")
    _wheel(cache, "gamma")  # a wheel the requirements do not pin is ignored
    requirements = _requirements(tmp_path / "req.txt", {"alpha": first_hash, "beta": second_hash})
    monkeypatch.setattr(subprocess, "run", _refuse_pip)
    wheels = packaging.lambda_wheels(
        requirements, python_version="3.12", architecture="x86_64", build_dir=tmp_path / "build"
    )
    assert wheels == [first, second]


def _recording_pip(calls: list[Sequence[str]], writes: dict[str, Path]) -> Any:
    def run(command: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert kwargs == {"check": True}, "a failed download must raise, not pass silently"
        calls.append(list(command))
        for name, source in writes.items():
            (Path(command[command.index("-d") + 1]) / name).write_bytes(source.read_bytes())
        return subprocess.CompletedProcess(list(command), 0)

    return run


def test_a_partial_cache_downloads_for_the_lambdas_interpreter_and_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "build" / "wheels" / "cp312-arm64"
    _, alpha_hash = _wheel(cache, "alpha")
    beta, beta_hash = _wheel(tmp_path / "index", "beta")
    requirements = _requirements(tmp_path / "req.txt", {"alpha": alpha_hash, "beta": beta_hash})
    calls: list[Sequence[str]] = []
    monkeypatch.setattr(subprocess, "run", _recording_pip(calls, {beta.name: beta}))
    wheels = packaging.lambda_wheels(
        requirements, python_version="3.12", architecture="arm64", build_dir=tmp_path / "build"
    )
    assert [w.name for w in wheels] == ["alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl"]
    (command,) = calls
    # pip download docs: --platform/--python-version/--implementation/--abi pick another interpreter's wheels
    # and need --only-binary=:all: (or --no-deps); PEP 599/600 name Linux ARM wheels aarch64.
    assert command[1:4] == ["-m", "pip", "download"]
    for flag in (
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--quiet",
        "--disable-pip-version-check",
    ):
        assert flag in command
    pairs = list(itertools.pairwise(command))
    assert ("--implementation", "cp") in pairs
    assert ("--python-version", "3.12") in pairs and ("--abi", "cp312") in pairs
    assert ("-r", str(requirements)) in pairs
    # pip downloads into a fresh folder inside the cache; only whole wheels are moved into the cache itself.
    download = Path(dict(pairs)["-d"])
    assert download.parent == cache and download.name.startswith(".partial-")  # hidden, never a *.whl
    assert sorted(p.name for p in cache.iterdir()) == [
        "alpha-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-any.whl",
    ]
    platforms = [value for flag, value in pairs if flag == "--platform"]
    assert platforms == ["manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"]


def test_only_pinned_lines_count_as_wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "build" / "wheels" / "cp312-x86_64"
    wheel, digest = _wheel(cache, "alpha")
    requirements = tmp_path / "req.txt"
    # uv pip compile writes a header, blank lines and "# via" comments around each pin.
    requirements.write_text(
        f"# This file was autogenerated by uv\n\nalpha==1.0 \\\n    --hash=sha256:{digest}\n    # via -r in\n"
    )
    monkeypatch.setattr(subprocess, "run", _refuse_pip)
    assert packaging.lambda_wheels(
        requirements, python_version="3.12", architecture="x86_64", build_dir=tmp_path / "build"
    ) == [wheel]


def test_an_unpacked_wheel_lists_files_not_directory_entries(tmp_path: Path) -> None:
    wheel = tmp_path / "alpha-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("alpha/", "")
        archive.writestr("alpha/__init__.py", "A = 1\n")
    target = tmp_path / "alpha-1.0-py3-none-any"
    assert packaging.unpacked_wheel(wheel) == {"alpha/__init__.py": target / "alpha/__init__.py"}
    assert (target / "alpha/__init__.py").read_text() == "A = 1\n"


def test_a_download_that_leaves_wheels_missing_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, alpha_hash = _wheel(tmp_path / "index", "alpha")
    requirements = _requirements(tmp_path / "req.txt", {"alpha": alpha_hash})
    monkeypatch.setattr(subprocess, "run", _recording_pip([], {}))
    with pytest.raises(RuntimeError, match=re.escape(f"{requirements}: expected 1 pinned wheels in ")):
        packaging.lambda_wheels(
            requirements, python_version="3.12", architecture="x86_64", build_dir=tmp_path / "build"
        )


def test_monitoring_zip_uses_the_given_build_folders_wheel_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = tmp_path / "build"
    _, digest = _wheel(build / "wheels" / "cp312-x86_64", "alpha")
    monkeypatch.setattr(
        packaging, "MONITORING_REQUIREMENTS", _requirements(tmp_path / "req.txt", {"alpha": digest})
    )
    monkeypatch.setattr(subprocess, "run", _refuse_pip)
    archive = packaging.build_monitoring_archive(build, python_version="3.12", architecture="x86_64")
    assert archive.path == build / "monitoring" / "x86_64" / "drift-engine.zip"
    with zipfile.ZipFile(archive.path) as zf:
        names = zf.namelist()
    assert "alpha/__init__.py" in names and "monitoring/handler.py" in names
    assert names == sorted(names)
