"""Write files so that a crash never leaves half of one: temporary file, fsync, rename.

The data goes to a temporary file beside the target (`.NAME.XXXXXXXX.tmp`), is flushed to
disk with fsync and only then renamed over the target, which POSIX and Windows do
atomically: a reader sees the old file or the complete new one, never half of one. A
process killed in between (SIGKILL, power cut) leaves at most such a temporary file, which
is never read; `remove_partial_writes` deletes it (the training loop does before it starts).

A write that fails (disk full, read-only folder) raises `WriteError`, an OSError whose
message is one sentence for people, after removing the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_write_text", "remove_partial_writes", "write_error", "WriteError"]


class WriteError(OSError):
    """A file could not be written (disk full, read-only folder, ...); the message says what to do."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporaries(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def remove_partial_writes(path: str | Path) -> list[Path]:
    """Delete the temporary files an interrupted write of `path` left behind; return them."""
    path = Path(path)
    removed = []
    for tmp in _temporaries(path) if path.parent.is_dir() else []:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def write_error(path: Path, err: OSError, what: str = "file", elsewhere: str = "write to another folder") -> WriteError:
    """The WriteError for a failed write of path: which file, why (the OS's words), what to do, what is left on disk."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = f"free some space or {elsewhere}"
    elif err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = f"make the folder writable or {elsewhere}"
    else:
        advice = f"check the disk or {elsewhere}"
    kept = f"the previous {what} is intact" if path.exists() else f"no {what} was written"
    error = WriteError(f"Could not write {what} {path} ({err.strerror or err}); {advice}; {kept}.")
    error.errno = err.errno  # callers can still test for errno.ENOSPC
    return error


@contextlib.contextmanager
def atomic_path(path: str | Path, what: str = "file", elsewhere: str = "write to another folder") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`.

    On any error the temporary file is removed and `path` keeps its previous content; an
    OSError (disk full, read-only folder) becomes a `WriteError` naming `what` and `path`
    and suggesting `elsewhere` as the way out.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise write_error(path, e, what, elsewhere) from e
        raise


def atomic_write_text(path: str | Path, text: str, what: str = "file", elsewhere: str = "write to another folder") -> None:
    """Write text to path atomically (see `atomic_path`)."""
    with atomic_path(path, what=what, elsewhere=elsewhere) as tmp:
        tmp.write_text(text)
