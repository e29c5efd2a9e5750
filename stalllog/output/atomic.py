"""Replace an output directory as a whole: a run leaves the old complete set of tables or the
new complete set, never a mix.

All files are written into a fresh private directory next to the target
(`tempfile.mkdtemp(dir=parent, prefix=".<name>.")`: unpredictable name, mode 0700, so no one
else can plant a symlink inside it), which is then swapped in:

* target missing or an empty directory: `rename(tmp, target)`, atomic;
* target a previous stalllog output (has `manifest.json`, or holds only `<table>.<ext>`
  files of an older stalllog), or any directory with `force`: on Linux, `renameat2(tmp,
  target, RENAME_EXCHANGE)` swaps the two atomically and the old set is then deleted. Where
  that call is missing (other systems, some file systems) the old directory is renamed to a
  reserved unpredictable name (`.<name>.old.XXXXXXXX`, made by mkdtemp) and the new one
  renamed into place: between those two renames the target does not exist and the old
  complete set is in `.<name>.old.XXXXXXXX` (the one window; a kill there leaves it for
  the user to rename back).

Files are fsync'ed before the swap and the parent directory after it, so a power cut does
not leave a swapped-in directory of empty files. Any failure (including KeyboardInterrupt)
removes the temporary directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import glob
import os
import re
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from stalllog.engine.schema import all_schemas

MANIFEST = "manifest.json"
TABLE_EXTENSIONS = ("parquet", "csv", "jsonl")
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


class OutputError(Exception):
    """The output could not be written: `path` is the user's output path (or a file in it)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def reason(e: OSError) -> str:
    """The OS's words for an error (pyarrow's `Error writing bytes ... Detail: [errno 28] No
    space left on device` becomes `No space left on device`)."""
    if e.errno is not None:
        return os.strerror(e.errno)
    return str(e.strerror or e)


def _is_stalllog_output(path: Path) -> bool:
    """A directory we may replace without --force: it has our manifest, or holds only table
    files (a stalllog older than the manifest)."""
    entries = list(os.scandir(path))
    if any(e.name == MANIFEST and e.is_file(follow_symlinks=False) for e in entries):
        return True
    files = [f"{t.name}.{ext}" for t in all_schemas() for ext in TABLE_EXTENSIONS]
    names = {*files, *(f".{f}.part" for f in files)}  # and what their failed runs left
    return all(e.name in names and e.is_file(follow_symlinks=False) for e in entries)


def check_target(target: Path, force: bool) -> Path:
    """The absolute target, or OutputError when it must not be replaced."""
    try:
        return _check_target(target, force)
    except OSError as e:  # e.g. a parent we may not search
        raise OutputError(target, reason(e)) from None


def _check_target(target: Path, force: bool) -> Path:
    if str(target) == "-":
        raise OutputError("-", "the output is a directory of table files, not standard output")
    absolute = Path(os.path.abspath(target))
    if absolute.parent == absolute:
        raise OutputError(target, "cannot replace the root directory")
    if absolute.is_symlink():
        raise OutputError(target, "is a symbolic link; give the directory it points to")
    if absolute.exists() and not absolute.is_dir():
        raise OutputError(target, "exists and is not a directory")
    for above in target.parents:
        # mkdir(parents=True) would only say "File exists"
        if above.exists() and not above.is_dir():
            raise OutputError(target, f"{above} is not a directory")
    nonempty = absolute.is_dir() and any(absolute.iterdir())
    if nonempty and not force and not _is_stalllog_output(absolute):
        raise OutputError(
            target,
            "is not empty and not a stalllog output (no manifest.json); "
            "--force replaces it and deletes its contents",
        )
    return absolute


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_tree(directory: Path) -> None:
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False):
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagedDir:
    """`with StagedDir(target) as stage: write into stage.path; stage.commit()`. Leaving the
    block without commit() (an exception, KeyboardInterrupt, typer.Exit) deletes stage.path."""

    def __init__(self, target: Path, shown: Path | None = None) -> None:
        self.target = target  # absolute, checked by check_target()
        self.shown = shown or target  # as the user wrote it, for messages
        self._path: Path | None = None
        self._lock: int | None = None
        self.committed = False

    @property
    def path(self) -> Path:
        assert self._path is not None, "use StagedDir in a with statement"
        return self._path

    def __enter__(self) -> StagedDir:
        parent, name = self.target.parent, self.target.name
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._path = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}."))
            # held while we write: tells leftovers() this directory is not abandoned
            self._lock = os.open(self._path, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            self.__exit__(None, None, None)
            raise OutputError(self.shown, reason(e)) from None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._path is not None and not self.committed:
            shutil.rmtree(self._path, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def commit(self) -> None:
        """Swap the written directory in place of the target."""
        try:
            self._set_mode()
            _fsync_tree(self.path)
            self._swap(self.path)
            _fsync_dir(self.target.parent)
        except OSError as e:
            raise OutputError(self.shown, reason(e)) from None
        self.committed = True

    def _set_mode(self) -> None:
        """mkdtemp's 0700 kept others out while writing; the result gets the mode the old
        directory had, or the one mkdir would give."""
        try:
            mode = self.target.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o777 & ~umask
        os.chmod(self.path, mode)

    def _swap(self, new: Path) -> None:
        target = self.target
        try:
            os.rename(new, target)  # target missing or an empty directory: atomic
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if _exchange(new, target):
            self.committed = True  # the old set is now at `new`: delete it, never the target
            shutil.rmtree(new, ignore_errors=True)
            return
        # two renames; the old set stays complete under an unpredictable reserved name
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
        os.rename(target, old)
        try:
            os.rename(new, target)
        except OSError:
            os.rename(old, target)
            raise
        self.committed = True
        shutil.rmtree(old, ignore_errors=True)


def leftovers(target: Path) -> list[Path]:
    """Temporary directories next to `target` that a killed run left (`.<name>.XXXXXXXX`,
    `.<name>.old.XXXXXXXX`): those no running stalllog holds locked. Never deleted for the
    user: an `.old.` one may hold the only copy of the previous set."""
    out = []
    shape = re.compile(rf"\.{re.escape(target.name)}\.(old\.)?[a-z0-9_]{{8}}")
    for p in sorted(target.parent.glob(f".{glob.escape(target.name)}.*")):
        if not shape.fullmatch(p.name) or p.is_symlink() or not p.is_dir():
            continue
        try:
            fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out.append(p)
        except OSError:  # a run is writing it
            pass
        finally:
            os.close(fd)
    return out


def write_file(target: Path, data: bytes) -> None:
    """Replace one file atomically: `data` goes to a private temporary file beside it
    (mkstemp), fsync'ed and renamed over it, so `target` is the old file or the new one, never
    a part; OutputError (naming `target`) when that fails. The file keeps the mode of the one
    it replaces, else gets the one `open` would give (mkstemp's 0600 only while writing).

    A device or FIFO (`/dev/null`, `/dev/stdout`, a pipe) is written into, never replaced:
    renaming over `/dev/null` would leave a regular file there. A symlink stays: the file it
    points at is the one replaced."""
    absolute = Path(os.path.realpath(target))
    if absolute.is_dir():
        raise OutputError(target, "is a directory")
    if absolute.exists() and not absolute.is_file():
        try:
            with open(absolute, "wb") as f:
                f.write(data)
        except OSError as e:
            raise OutputError(target, reason(e)) from None
        return
    for above in target.parents:
        # mkdir(parents=True) would only say "File exists"
        if above.exists() and not above.is_dir():
            raise OutputError(target, f"{above} is not a directory")
    tmp = ""
    try:
        absolute.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=absolute.parent, prefix=f".{absolute.name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), _file_mode(absolute))
            os.fsync(f.fileno())
        os.replace(tmp, absolute)
        tmp = ""
        _fsync_dir(absolute.parent)
    except OSError as e:
        raise OutputError(target, reason(e)) from None
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
