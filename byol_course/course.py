"""Chapter 0 — what every notebook does first: seed, device, run mode.

Three run modes, chosen by the environment, so every notebook runs everywhere:
- "smoke": `BYOL_COURSE_SMOKE=1` — tiny sizes, the same code paths (CI runs this under nbval);
- "classroom": no GPU — sizes for a 2-core laptop, minutes per chapter;
- "full": a CUDA GPU — the sizes the paper-style runs need.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch

__all__ = ["REPO_URL", "mode", "pick", "in_colab", "setup", "runs_dir", "train_or_resume"]

REPO_URL = "https://github.com/byol-course/byol-course"  # the Colab set-up cells install from here

T = TypeVar("T")


def mode() -> str:
    """'smoke' when BYOL_COURSE_SMOKE=1, else 'full' on a CUDA GPU, else 'classroom'."""
    if os.environ.get("BYOL_COURSE_SMOKE", "") not in ("", "0"):
        return "smoke"
    return "full" if torch.cuda.is_available() else "classroom"


def pick(smoke: T, classroom: T, full: T) -> T:
    """The value for the current run mode, e.g. `epochs = pick(1, 12, 200)`."""
    return {"smoke": smoke, "classroom": classroom, "full": full}[mode()]


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def setup(seed: int = 0, verbose: bool = True) -> tuple[torch.device, str]:
    """Seed Python, NumPy and torch; pick the device; say where we run. Returns (device, mode)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if verbose:
        where = "Colab" if in_colab() else "local"
        gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        print(f"run mode: {mode()} · {where} · {gpu} · torch {torch.__version__} · seed {seed}")
    return device, mode()


DRIVE_RUNS = Path("/content/drive/MyDrive/byol-course/runs")  # where Colab runs keep their checkpoints


def runs_dir(name: str, drive: bool = True) -> Path:
    """The folder for run `name`: on Google Drive in Colab (it survives a disconnect), else runs/name.

    In Colab this mounts Drive (Colab asks for permission once); drive=False keeps the run on the
    Colab machine, which loses it when the session ends.
    """
    if in_colab() and drive:
        from google.colab import drive as gdrive  # type: ignore[import-not-found]  # only exists in Colab

        if not Path("/content/drive/MyDrive").exists():
            gdrive.mount("/content/drive")
        return DRIVE_RUNS / name
    return Path("runs") / name


def train_or_resume(
    cfg: Any,
    run_dir: str | Path,
    train_images: torch.Tensor,
    eval_fn: Callable[..., dict[str, float]] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    fresh: bool = False,
    progress: bool = True,
) -> tuple[Any, list[dict[str, Any]], str]:
    """Load run_dir's finished run, continue an unfinished one, or train from the start.

    Returns (networks, history, what happened: "loaded" | "resumed" | "trained"). A checkpoint
    with another recipe is replaced (the message says so); fresh=True always starts over.
    A run is "the same" when its saved config equals cfg's (logging settings included).
    """
    from .train import CHECKPOINT, CheckpointError, load_checkpoint, load_networks, pretrain

    run_dir = Path(run_dir)
    ckpt = run_dir / CHECKPOINT
    state = None
    if ckpt.exists() and not fresh:
        try:
            state = load_checkpoint(ckpt, map_location="cpu")
        except CheckpointError as e:
            print(f"cannot use {ckpt} ({e}); training from the start")
    same = state is not None and state.get("config") == cfg.to_dict()
    if same and state["epoch"] >= cfg.train.epochs:
        net, _ = load_networks(state)
        net = net.to(_device_of(cfg))
        if on_epoch_end is not None:
            for record in state["history"]:
                on_epoch_end(record)
        print(f"loaded the finished run in {ckpt}: {state['epoch']} epochs")
        return net, list(state["history"]), "loaded"
    if same:
        print(f"resuming {ckpt} after epoch {state['epoch']} of {cfg.train.epochs}")
        if on_epoch_end is not None:
            for record in state["history"]:
                on_epoch_end(record)
    elif state is not None:
        print(f"{ckpt} holds a run with another recipe; training from the start in its place")
    net, history = pretrain(
        cfg, run_dir, resume=same, train_images=train_images, eval_fn=eval_fn, on_epoch_end=on_epoch_end, progress=progress
    )
    return net, history, "resumed" if same else "trained"


def _device_of(cfg: Any) -> torch.device:
    from .train import resolve_device

    return resolve_device(cfg.train.device)
