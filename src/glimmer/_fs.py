"""The one way glimmer reads and writes files and folders, so that no input loses data.

Writes are atomic: the content goes to a temporary sibling, is flushed to disk (``fsync``),
then renamed over the target, and the folder entry is flushed too. A reader sees the old
content or the new, never half of it; a failed or killed write leaves the old one intact.

- A replaced file keeps its permission bits; a new file or folder follows the umask.
- A symbolic link is written through: its target gets the new content, the link stays.
- Only regular files are replaced: a folder, device, pipe or socket is refused (G011).
- A file with several hard links is rewritten in place once the new content is safely on
  disk beside it, so that every name keeps seeing the same file.
- Every failure is a :class:`~glimmer.errors.GlimmerFileError` naming the path (G010).

:func:`atomic_dir` writes a whole folder the same way: everything into a temporary sibling,
then one rename (an atomic exchange where the system offers one), so a folder is always
one complete set of files. :func:`read_text` checks the size while reading, so a huge file
or an endless device is refused without reading it whole.

This module imports nothing from glimmer but :mod:`glimmer.errors`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

from glimmer.errors import GlimmerFileError, Location

__all__ = [
    "atomic_dir",
    "read_bytes",
    "read_text",
    "require_empty",
    "write_bytes",
    "write_text",
]

PathLike = str | os.PathLike[str]


def _fail(path: PathLike, message: str, *, code: str = "G010", hint: str | None = None) -> NoReturn:
    raise GlimmerFileError(message, location=Location(str(path)), hint=hint, code=code)


def _os_error(path: PathLike, exc: OSError, verb: str = "cannot write") -> GlimmerFileError:
    """A GlimmerFileError in the user's terms for an OSError raised while writing *path*."""
    reason = exc.strerror or str(exc)
    hint = None
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "choose a folder you can write to, or fix its permissions"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free some disk space and try again"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        reason = "a parent of it is a file, not a folder"
        hint = "choose a path whose parents are folders"
    return GlimmerFileError(
        f"{verb}: {reason}", location=Location(str(path)), hint=hint, code="G010"
    )


def _resolve(path: PathLike) -> Path:
    """The path a write lands on: symbolic links followed to their (possibly missing) target."""
    return Path(os.path.realpath(path))


def _existing(target: Path, label: PathLike, overwrite: bool) -> os.stat_result | None:
    """The target's status when it exists; refuse what may not be replaced."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error(label, exc) from None
    if stat.S_ISDIR(st.st_mode):
        _fail(label, "is a folder", code="G011", hint="name a file inside it")
    if not stat.S_ISREG(st.st_mode):
        _fail(
            label,
            "is not a regular file (a device, pipe or socket)",
            code="G011",
            hint="glimmer replaces only regular files; name a file, or leave out the output "
            "option to write to standard output",
        )
    if not overwrite:
        _fail(
            label,
            "already exists",
            code="G004",
            hint="pass overwrite=True (--force) to replace it",
        )
    return st


def _mkdirs(folder: Path, label: PathLike) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        _fail(
            label,
            "cannot write: a parent of it is a file, not a folder",
            hint="choose a path whose parents are folders",
        )
    except OSError as exc:
        raise _os_error(label, exc) from None


def _fsync_dir(folder: Path) -> None:
    """Flush a folder entry (a rename) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(target: Path, tag: str) -> Path:
    return target.with_name(f".{target.name}.{tag}-{secrets.token_hex(4)}")


def write_bytes(path: PathLike, data: bytes, /, *, overwrite: bool = True) -> Path:
    """Write *data* to *path* atomically (see the module notes).

    Args:
        path: Target file; a symbolic link is written through to its target.
        data: The bytes.
        overwrite: Replace an existing file; when false an existing one is an error (G004).

    Returns:
        The path given.

    Raises:
        GlimmerFileError: The target exists and *overwrite* is false (G004), is not a regular
            file (G011), or cannot be written (G010).
    """
    if not isinstance(data, bytes):
        raise TypeError(f"write_bytes() takes bytes, not {type(data).__name__}")
    target = _resolve(path)
    st = _existing(target, path, overwrite)
    _mkdirs(target.parent, path)
    tmp = _temp_name(target, "tmp")
    try:
        # 0o666 through os.open: the kernel applies the umask, as for any new file
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                if st is not None:
                    os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                    with contextlib.suppress(OSError):  # keeping the owner needs privileges
                        os.fchown(fh.fileno(), st.st_uid, st.st_gid)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if st is not None and st.st_nlink > 1:
                _rewrite_in_place(target, data)
                tmp.unlink()
            else:
                os.replace(tmp, target)
        except OSError as exc:
            raise _os_error(path, exc) from None
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return Path(path)


def _rewrite_in_place(target: Path, data: bytes) -> None:
    with open(target, "r+b") as fh:
        fh.truncate(0)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: PathLike, text: str, /, *, overwrite: bool = True) -> Path:
    """Write *text* as UTF-8 with ``\\n`` line ends, atomically (see :func:`write_bytes`).

    Raises:
        GlimmerFileError: As :func:`write_bytes`; also text that cannot be UTF-8 (G010).
    """
    if not isinstance(text, str):
        raise TypeError(f"write_text() takes str, not {type(text).__name__}")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        _fail(
            path,
            f"cannot write: the text holds a lone surrogate (U+{ord(exc.object[exc.start]):04X}) "
            f"at character {exc.start}",
            hint="replace it by the character meant (a pair of surrogates is one character)",
        )
    return write_bytes(path, data, overwrite=overwrite)


# -- folders ------------------------------------------------------------------------------

_RENAME_EXCHANGE = 2


def _exchange_function() -> Callable[[bytes, bytes], int] | None:
    """``renameat2(..., RENAME_EXCHANGE)`` from the C library, where it exists (Linux)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd = -100

    def exchange(a: bytes, b: bytes) -> int:
        return int(fn(at_fdcwd, a, at_fdcwd, b, _RENAME_EXCHANGE))

    return exchange


_exchange = _exchange_function() if os.name == "posix" else None


def _swap_in(tmp: Path, target: Path) -> None:
    """Put folder *tmp* where folder *target* is, and remove the old one.

    One atomic exchange where the system offers it; else two renames, between which the old
    folder is kept under a hidden name beside the target.
    """
    old = _temp_name(target, "old")
    if _exchange is not None and _exchange(os.fsencode(tmp), os.fsencode(target)) == 0:
        os.rename(tmp, old)  # tmp now holds the old content
    else:
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except OSError:
            os.rename(old, target)
            raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(
    path: PathLike,
    /,
    *,
    overwrite: bool = False,
    check: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Write a folder as one set: yield an empty temporary sibling, then rename it over *path*.

    Whatever the body writes into the yielded folder appears at *path* all at once when the
    body ends; if it raises, nothing changes at *path*. An existing folder is replaced
    whole (so no file of an earlier write survives) and its permission bits are kept.

    Args:
        path: The folder to write.
        overwrite: Replace a folder that is not empty; when false that is an error (G004).
        check: Called with the existing folder before anything is written; raises to refuse
            replacing it (for instance when it holds files the writer does not own).

    Raises:
        GlimmerFileError: *path* is a file (G011), is not empty and *overwrite* is false
            (G004), or cannot be written (G010).
    """
    target = _resolve(path)
    mode: int | None = None
    if target.exists():
        if not target.is_dir():
            _fail(path, "is a file, not a folder", code="G011", hint="name a folder")
        here = Path.cwd().resolve()
        if target == here or target in here.parents:
            _fail(
                path,
                "is the current folder (or holds it), which cannot be replaced whole",
                code="G011",
                hint="run the command from another folder, or write to a sub-folder",
            )
        try:
            nonempty = any(target.iterdir())
            mode = stat.S_IMODE(target.stat().st_mode)
        except OSError as exc:
            raise _os_error(path, exc, "cannot read") from None
        if nonempty and not overwrite:
            _fail(
                path,
                "already exists and is not empty",
                code="G004",
                hint="pass overwrite=True (--force) to replace it, or choose another folder",
            )
        if check is not None:
            check(target)
    _mkdirs(target.parent, path)
    tmp = _temp_name(target, "tmp")
    try:
        os.mkdir(tmp, 0o777)  # the umask applies
        if mode is not None:
            os.chmod(tmp, mode)
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        yield tmp
        _fsync_dir(tmp)
        try:
            if target.exists():
                _swap_in(tmp, target)
            else:
                os.rename(tmp, target)
        except OSError as exc:
            raise _os_error(path, exc) from None
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def require_empty(path: PathLike, /, *, overwrite: bool = False) -> None:
    """Refuse a folder that already holds something, unless *overwrite* is given.

    Raises:
        GlimmerFileError: *path* is a file (G011), or a folder that is not empty while
            *overwrite* is false (G004).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        _fail(path, "is a file, not a folder", code="G011", hint="name a folder")
    try:
        nonempty = target.is_dir() and any(target.iterdir())
    except OSError as exc:
        raise _os_error(path, exc, "cannot read") from None
    if nonempty and not overwrite:
        _fail(
            path,
            "already exists and is not empty",
            code="G004",
            hint="pass overwrite=True (--force) to replace what an earlier run wrote there, "
            "or choose another folder",
        )


# -- reading ------------------------------------------------------------------------------


def read_bytes(path: PathLike, /, *, limit: int | None = None) -> bytes:
    """Read a file, refusing one larger than *limit* bytes without reading it whole.

    Raises:
        GlimmerFileError: Missing, a folder, a named pipe or socket, unreadable (G001) or
            larger than *limit* (G014).
    """
    label = str(path)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):  # opening one waits for a writer
            _fail(
                label,
                f"is a {'named pipe' if stat.S_ISFIFO(mode) else 'socket'}, not a file",
                code="G001",
                hint="save what it carries to a file and pass that",
            )
        with open(path, "rb") as fh:
            if limit is None:
                return fh.read()
            size = _size(fh.fileno())
            if size is not None and size > limit:
                _too_large(label, size, limit)
            data = fh.read(limit + 1)  # a device or pipe has no size: read one byte past
            if len(data) > limit:
                _too_large(label, None, limit)
            return data
    except GlimmerFileError:
        raise
    except FileNotFoundError:
        _fail(label, "no such file", code="G001")
    except IsADirectoryError:
        _fail(label, "is a directory", code="G001", hint="pass the files inside it")
    except PermissionError:
        _fail(label, "permission denied", code="G001")
    except MemoryError:
        _fail(label, "too large to read into memory", code="G014")
    except OSError as exc:
        _fail(label, f"cannot read: {exc.strerror or exc}", code="G001")


def _size(fd: int) -> int | None:
    st = os.fstat(fd)
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _too_large(label: str, size: int | None, limit: int) -> NoReturn:
    what = f"is {size:,} bytes" if size is not None else "holds more"
    _fail(
        label,
        f"{what}; the limit is {limit:,} bytes",
        code="G014",
        hint="split it into several files",
    )


def read_text(path: PathLike, /, *, limit: int | None = None) -> str:
    """Read a UTF-8 text file (at most *limit* bytes); every failure is a GlimmerFileError.

    Raises:
        GlimmerFileError: As :func:`read_bytes`; not UTF-8 (G003), with the line and column.
    """
    raw = read_bytes(path, limit=limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise GlimmerFileError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            location=Location(str(path), line, column),
            hint="save the file as UTF-8",
            code="G003",
        ) from None
