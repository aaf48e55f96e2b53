"""Chapter 5 — one run per folder: a lock file that holds the writer's process id.

Two runs started into one output folder would overwrite each other's checkpoints. While a run
writes to a folder it holds `run.lock` there (its process id and host); a second run is
refused with one sentence. A lock left by a run that died (SIGKILL, a crashed kernel) is
taken over, and the takeover is said.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from .atomic import write_error

__all__ = ["LOCK", "RunLocked", "held_by", "run_lock"]

LOCK = "run.lock"


class RunLocked(RuntimeError):
    """Another live run is writing to the same folder."""


def _holder(path: Path) -> tuple[int, str] | None:
    """(pid, host) written in a lock file, or None if it cannot be read."""
    try:
        pid, host = path.read_text().split()[:2]
        return int(pid), host
    except (OSError, ValueError):
        return None


def _alive(pid: int, host: str) -> bool:
    """Is the process that wrote a lock still running? (A lock from another machine counts as alive.)"""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def held_by(folder: str | Path, name: str = LOCK) -> tuple[int, str] | None:
    """(pid, host) of the live run that holds folder's lock `name`, or None when no live run does."""
    holder = _holder(Path(folder) / name)
    return holder if holder is not None and _alive(*holder) else None


def _create(path: Path, me: tuple[int, str], elsewhere: str) -> bool:
    """Create the lock file holding me; False if it exists already."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as e:  # a read-only folder, a full disk
        raise write_error(path, e, "lock file", elsewhere) from None
    with os.fdopen(fd, "w") as f:
        f.write(f"{me[0]} {me[1]}\n")
    return True


@contextlib.contextmanager
def run_lock(folder: str | Path, elsewhere: str = "choose another --out folder", name: str = LOCK) -> Iterator[None]:
    """Hold folder/run.lock (or folder/<name>) while the block runs; refuse if a live run holds it, take over a dead run's."""
    path, me = Path(folder) / name, (os.getpid(), socket.gethostname())
    while not _create(path, me, elsewhere):
        holder = _holder(path)
        if holder is None:  # being written this instant, or left empty by a crash
            time.sleep(0.2)
            holder = _holder(path)
        if holder is not None and _alive(*holder):
            pid, host = holder
            where = "" if host == socket.gethostname() else f" on {host}"
            raise RunLocked(
                f"Another run (process {pid}{where}) is writing to {folder}; wait for it to finish or stop it, "
                f"or {elsewhere} (if that run is gone, delete {path})."
            )
        print(f"Took over {path}: the run that held it ({f'process {holder[0]}' if holder else 'a process'}) is no longer running.")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    try:
        yield
    finally:
        if _holder(path) == me:  # never remove a lock another run took over
            with contextlib.suppress(OSError):
                path.unlink()
