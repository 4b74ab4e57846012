"""Builds that share one .build folder: a reader sees a whole archive or none, never a half-written one.

Two programs do share it: stacks previewed side by side from one checkout (tools/stack_matrix.py in CI), and
the test workers of `make test`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from pathlib import Path

import pytest

from infra import packaging


def _members(folder: Path, seed: bytes) -> dict[str, Path]:
    """One incompressible 1 MiB file, so writing an archive takes long enough to be caught half-way."""
    folder.mkdir()
    data = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(2**20 // 32))
    (folder / "blob.bin").write_bytes(data)
    return {"blob.bin": folder / "blob.bin"}


def test_a_reader_never_sees_an_archive_half_written_by_another_build(tmp_path: Path) -> None:
    first, second = _members(tmp_path / "a", b"a"), _members(tmp_path / "b", b"b")
    destination = tmp_path / "build" / "shared.tar.gz"
    expected = {
        packaging.deterministic_tar_gz(first, tmp_path / "a.tar.gz").sha256,
        packaging.deterministic_tar_gz(second, tmp_path / "b.tar.gz").sha256,
    }
    packaging.deterministic_tar_gz(first, destination)
    done = threading.Event()

    def rebuild() -> None:
        for i in range(8):
            packaging.deterministic_tar_gz(second if i % 2 == 0 else first, destination)
        done.set()

    writer = threading.Thread(target=rebuild)
    writer.start()
    seen: list[str] = []
    while not done.is_set():
        seen.append(hashlib.sha256(destination.read_bytes()).hexdigest())
    writer.join()
    assert set(seen) <= expected, f"{len(set(seen) - expected)} of {len(seen)} reads saw a partial archive"
    assert len(seen) > 8  # the reads overlapped the writes
    assert not [p.name for p in destination.parent.iterdir() if p.name != destination.name]  # no leftovers


def test_two_builds_unpacking_the_same_wheel_agree_and_leave_one_whole_folder(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for i in range(200):
            archive.writestr(f"demo/module_{i}.py", f"VALUE = {i}\n")
    results: list[dict[str, Path]] = []
    threads = [
        threading.Thread(target=lambda: results.append(packaging.unpacked_wheel(wheel))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert all(path.read_text() == f"VALUE = {i}\n" for i, path in enumerate(results[0].values()))
    assert sorted(os.listdir(tmp_path)) == ["demo-1.0-py3-none-any", wheel.name]


def test_a_half_unpacked_wheel_from_an_interrupted_build_is_replaced(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/a.py", "A = 1\n")
        archive.writestr("demo/b.py", "B = 2\n")
    (tmp_path / "demo-1.0-py3-none-any" / "demo").mkdir(parents=True)
    (tmp_path / "demo-1.0-py3-none-any" / "demo" / "a.py").write_text("A = 1\n")  # b.py never written
    files = packaging.unpacked_wheel(wheel)
    assert {name: path.read_text() for name, path in files.items()} == {
        "demo/a.py": "A = 1\n",
        "demo/b.py": "B = 2\n",
    }
    assert sorted(os.listdir(tmp_path)) == ["demo-1.0-py3-none-any", wheel.name]


# rename(2) replaces its target atomically only within one file system, so every temporary name sits beside
# its final one (a temporary folder elsewhere, such as /tmp, is often another file system: EXDEV).
# https://man7.org/linux/man-pages/man2/rename.2.html (DESCRIPTION: atomic replace; ERRORS: EXDEV)
def test_an_interrupted_build_keeps_the_old_archive_and_leaves_only_a_hidden_partial_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = {"a.txt": tmp_path / "a.txt"}
    (tmp_path / "a.txt").write_text("old\n")
    destination = tmp_path / "build" / "code.tar.gz"
    old = packaging.deterministic_tar_gz(members, destination)
    (tmp_path / "a.txt").write_text("new\n")
    renames: list[tuple[str, str]] = []

    def interrupted(source: str, target: str) -> None:
        renames.append((source, target))
        raise KeyboardInterrupt

    monkeypatch.setattr(packaging.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        packaging.deterministic_tar_gz(members, destination)
    ((source, target),) = renames
    assert Path(target) == destination and Path(source).parent == destination.parent
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == old.sha256
    leftovers = [p.name for p in destination.parent.iterdir() if p != destination]
    assert leftovers == [Path(source).name] and leftovers[0].startswith(".partial-")


def test_a_wheel_is_unpacked_beside_its_folder_and_a_broken_folder_is_moved_aside_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/a.py", "A = 1\n")
    (tmp_path / "demo-1.0-py3-none-any" / "demo").mkdir(parents=True)  # a broken folder: a.py is missing
    renames: list[tuple[Path, Path]] = []
    rename = Path.rename

    def recorded(self: Path, target: Path) -> Path:
        renames.append((self, Path(target)))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", recorded)
    packaging.unpacked_wheel(wheel)
    target = tmp_path / "demo-1.0-py3-none-any"
    first, aside, into_place = renames
    assert first[1] == target and first[0].parent == tmp_path and first[0].name.startswith(".partial-")
    assert (
        aside[0] == target
        and aside[1].parent.parent == tmp_path
        and aside[1].parent.name.startswith(".stale-")
    )
    assert into_place == first
