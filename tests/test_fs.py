"""The one atomic writer: modes, links, refusals, folders written as a set, bounded reads."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from glimmer._fs import atomic_dir, read_text, require_empty, write_bytes, write_text
from glimmer.errors import GlimmerFileError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "p.glimmer"
    target.write_text("old")
    target.chmod(0o664)
    write_text(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o664


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_new_files_and_folders_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        write_text(tmp_path / "sub" / "p.txt", "x")
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "a.txt").write_text("a")
    finally:
        os.umask(old)
    assert mode(tmp_path / "sub" / "p.txt") == 0o666 & ~mask
    assert mode(tmp_path / "sub") == 0o777 & ~mask
    assert mode(tmp_path / "folder") == 0o777 & ~mask


def test_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.glimmer"
    real.write_text("old")
    link = tmp_path / "link.glimmer"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_hard_link_keeps_seeing_the_new_content(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("old")
    b = tmp_path / "b.txt"
    os.link(a, b)
    write_text(a, "new")
    assert b.read_text() == "new"
    assert a.stat().st_ino == b.stat().st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path, Path("/dev/null")):
        with pytest.raises(GlimmerFileError) as info:
            write_text(target, "x")
        assert info.value.code == "G011", target
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_no_overwrite_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "p.txt"
    target.write_text("keep")
    with pytest.raises(GlimmerFileError) as info:
        write_text(target, "x", overwrite=False)
    assert info.value.code == "G004"
    assert target.read_text() == "keep"


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_unwritable_places_are_clean_errors(tmp_path: Path, where: str) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    target = file / "out.json" if where == "under-a-file" else Path("/proc/glimmer-test/out.json")
    with pytest.raises(GlimmerFileError) as info:
        write_text(target, "x")
    assert info.value.code == "G010"
    assert str(target) in str(info.value)


def test_lone_surrogate_is_a_clean_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(GlimmerFileError) as info:
        write_text(tmp_path / "p.txt", "a\ud800b")
    assert "surrogate" in info.value.message
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_old_content_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "p.txt"
    target.write_text("old")

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(GlimmerFileError) as info:
        write_bytes(target, b"new")
    assert info.value.code == "G010" and info.value.hint and "disk space" in info.value.hint
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["p.txt"]


def test_folder_is_replaced_as_one_set(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text("old")
    (folder / "train.sharegpt.jsonl").write_text("stale")
    folder.chmod(0o750)
    with atomic_dir(folder, overwrite=True) as tmp:
        (tmp / "train.jsonl").write_text("new")
        assert (folder / "train.jsonl").read_text() == "old"  # nothing visible before the end
    assert sorted(p.name for p in folder.iterdir()) == ["train.jsonl"]
    assert (folder / "train.jsonl").read_text() == "new"
    assert mode(folder) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_failing_folder_write_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text("old")

    def build() -> None:
        with atomic_dir(folder, overwrite=True) as tmp:
            (tmp / "train.jsonl").write_text("new")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        build()
    assert [p.name for p in folder.iterdir()] == ["train.jsonl"]
    assert (folder / "train.jsonl").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_folder_refusals(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "x").write_text("x")
    with pytest.raises(GlimmerFileError) as info, atomic_dir(folder):
        pass
    assert info.value.code == "G004"
    with pytest.raises(GlimmerFileError) as info, atomic_dir(folder / "x", overwrite=True):
        pass
    assert info.value.code == "G011"
    with pytest.raises(GlimmerFileError) as info:
        require_empty(folder)
    assert info.value.code == "G004"
    require_empty(folder, overwrite=True)
    require_empty(tmp_path / "missing")
    assert (folder / "x").read_text() == "x"


def test_read_refuses_huge_files_without_reading_them(tmp_path: Path) -> None:
    big = tmp_path / "big.glimmer"
    with big.open("wb") as fh:
        fh.truncate(3 * 2**30)  # sparse: 3 GiB that take no disk
    with pytest.raises(GlimmerFileError) as info:
        read_text(big, limit=1024)
    assert info.value.code == "G014" and "3,221,225,472 bytes" in info.value.message
    with pytest.raises(GlimmerFileError) as info:
        read_text("/dev/zero", limit=1024)
    assert info.value.code == "G014"
    small = tmp_path / "small.txt"
    small.write_text("é")
    assert read_text(small, limit=2) == "é"


def test_current_folder_is_never_swapped_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text("old")
    monkeypatch.chdir(folder)
    with pytest.raises(GlimmerFileError) as info, atomic_dir(".", overwrite=True):
        pass
    assert info.value.code == "G011"
    assert (folder / "train.jsonl").read_text() == "old"


def test_a_named_pipe_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    import subprocess
    import sys

    fifo = tmp_path / "pattern.glimmer"
    os.mkfifo(fifo)
    with pytest.raises(GlimmerFileError, match="named pipe") as info:
        read_text(fifo, limit=1024)
    assert info.value.code == "G001"
    # the CLI answers with exit 2 and does not hang waiting for a writer
    run = subprocess.run(
        [sys.executable, "-m", "glimmer", "check", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "named pipe" in run.stderr
