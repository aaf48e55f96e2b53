"""Run the command line with a deterministic pause, so that a test can kill it at a known point.

    python tests/_interrupted_run.py FLAG step:K -- pretrain --dataset ... --out ...
    python tests/_interrupted_run.py FLAG save:checkpoint.pt:N -- pretrain ...

step:K                pause right after the K-th training step of this process (mid-epoch, with
                      the in-memory state ahead of the last checkpoint);
save:NAME:N           pause in the N-th atomic write of NAME, after its temporary file is complete
                      and fsynced and before the rename that publishes it.

At the point it creates the file FLAG and sleeps for up to two minutes; the test sends SIGKILL
or SIGINT then. Everything else is exactly `python -m byol_course ...` (the same `main`). The
pauses wrap `byol_course.train.train_step` and `os.replace` (which `atomic.atomic_path` calls
to publish a file) in this process only; the package has no test hooks.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import byol_course.train
from byol_course.__main__ import main


def _pause(flag: Path) -> None:
    flag.write_text(str(os.getpid()))
    time.sleep(120)  # the test kills us long before; if it does not, carry on


def _pause_at_step(k: int, flag: Path) -> None:
    real_step, calls = byol_course.train.train_step, [0]

    def step(*args, **kwargs):
        loss = real_step(*args, **kwargs)
        calls[0] += 1
        if calls[0] == k:
            _pause(flag)
        return loss

    byol_course.train.train_step = step  # pretrain looks the name up at every step


def _pause_in_save(name: str, n: int, flag: Path) -> None:
    real_replace, calls = os.replace, [0]

    def replace(src, dst, **kwargs):
        if Path(dst).name == name:
            calls[0] += 1
            if calls[0] == n:
                _pause(flag)
        return real_replace(src, dst, **kwargs)

    os.replace = replace


if __name__ == "__main__":
    flag, where, dashes, *argv = sys.argv[1:]
    assert dashes == "--", "usage: _interrupted_run.py FLAG step:K|save:NAME:N -- ARGS..."
    kind, _, rest = where.partition(":")
    if kind == "step":
        _pause_at_step(int(rest), Path(flag))
    else:
        name, _, n = rest.rpartition(":")
        _pause_in_save(name, int(n), Path(flag))
    sys.exit(main(argv))
