"""Chapter 5 — checkpoints: save, load, decide whether a saved run is this run, and resume it.

A run folder holds `checkpoint.pt` (networks, optimiser, the augmentation generator's state, step,
history, config), `config.json`, and while a run writes to it, `run.lock` (the writer's process id, so a
second run into the same folder is refused instead of overwriting the first's checkpoints).

- Every write is atomic (`atomic`): a crash leaves the previous checkpoint intact.
- Checkpoints load with `weights_only=True`: tensors and plain containers only, never code.
- Every entry is checked on load; a file that lacks one or holds one of the wrong type is refused
  with one sentence naming it. A config setting missing from an older file takes its default.
- One rule says whether a saved run is "the same run" as a config (`compare_configs`): the same
  settings, except how often the run is watched (`knn_every`, `log_every`), which never changes
  the weights. Resuming, the CLI and the notebooks' load-or-train all use it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .atomic import WriteError, atomic_path, atomic_write_text, remove_partial_writes
from .config import RunConfig
from .lock import run_lock
from .networks import BYOLNetworks

__all__ = [
    "CHECKPOINT",
    "RESUME_KEYS",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "check_checkpoint",
    "load_networks",
    "config_diff",
    "ConfigChange",
    "compare_configs",
    "TrainState",
    "RunFolder",
]

CHECKPOINT = "checkpoint.pt"
RESUME_KEYS = ("model", "optimizer", "rng", "epoch", "step", "history", "config")
WATCH_ONLY = ("train.knn_every", "train.log_every")  # how often a run is watched, never what it trains
FIXED = ("network.", "optim.name:")  # what the weights and the optimiser's state cannot follow
ELSEWHERE = "choose another --out folder"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: truncated, untrusted, malformed, or for another model."""


# --- files ------------------------------------------------------------------------------------


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (the previous one stays intact until the new one is complete).

    A full disk or read-only folder raises WriteError with one sentence. torch.save is given
    an open Python file, not a path, so that the disk's OSError(ENOSPC) is raised at all: with
    a path, a full disk surfaces only as torch's "unexpected pos" RuntimeError. Even so, torch
    raises that RuntimeError while closing the zip after the OSError; the OSError is re-raised.
    """
    with atomic_path(path, what="checkpoint", elsewhere=ELSEWHERE) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(state, f)
        except RuntimeError as e:
            cause = e.__context__
            while cause is not None and not isinstance(cause, OSError):
                cause = cause.__context__
            if cause is None:
                raise
            raise cause from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True and check every entry (`check_checkpoint`)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint {path} does not exist; pass the checkpoint.pt of a pretraining run.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 — every failure becomes one sentence
        first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(
                f"Refused to load {path}: it contains Python objects beyond tensors, which could run code "
                "when loaded; only load checkpoints you trust, and re-save them as plain state dicts."
            ) from None
        raise CheckpointError(f"Could not read checkpoint {path} ({first}); the file is truncated or not a checkpoint.") from None
    check_checkpoint(state, path)
    return state


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_byte_tensor(v: Any) -> bool:
    return isinstance(v, torch.Tensor) and v.dtype == torch.uint8


# entry -> (what it should hold, in words; the test). "model" and "config" are required.
_ENTRIES = {
    "model": ("a table of tensors", lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items())),
    "config": ("a table of settings", lambda v: isinstance(v, dict)),
    "optimizer": ("an optimiser state (state and param_groups)", lambda v: isinstance(v, dict) and isinstance(v.get("state"), dict) and isinstance(v.get("param_groups"), list)),
    "rng": ("the augmentation generator's state (a byte tensor under 'augment')", lambda v: isinstance(v, dict) and _is_byte_tensor(v.get("augment"))),
    "epoch": ("a whole number of epochs", _is_int),
    "step": ("a whole number of steps", _is_int),
    "history": ("a list of per-epoch records", lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v)),
    "config_overrides": ("a list of records", lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v)),
    "scaler": ("a loss-scaler state", lambda v: isinstance(v, dict)),
    "world_size": ("a whole number of processes", _is_int),
}


def check_checkpoint(state: Any, path: str | Path, resume: bool = False) -> None:
    """Refuse, in one sentence, a checkpoint that lacks an entry or holds one of the wrong type."""
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a byol_course checkpoint (no 'model' and 'config' entries).")
    if resume:
        missing = [k for k in RESUME_KEYS if k not in state]
        if missing:
            raise CheckpointError(
                f"Cannot resume {path}: it lacks the training state {', '.join(missing)}, so it can be evaluated "
                "but not continued; start a new --out folder."
            )
    for key, (what, fits) in _ENTRIES.items():
        if key in state and not fits(state[key]):
            raise CheckpointError(f"{path} is malformed: its '{key}' entry should be {what}; it cannot be used, start a new --out folder.")
    try:
        RunConfig.from_dict(state["config"])
    except ValueError as e:
        raise CheckpointError(f"{path} is malformed: its {e}; it cannot be used, start a new --out folder.") from None


def load_networks(state: dict[str, Any]) -> tuple[BYOLNetworks, RunConfig]:
    """Rebuild the networks of a checkpoint; a sentence naming the mismatch if the weights don't fit."""
    try:
        cfg = RunConfig.from_dict(state["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"The checkpoint's config does not describe a run ({e}).") from None
    net = BYOLNetworks(cfg.network)
    try:
        result = net.load_state_dict(state["model"], strict=False)
    except (RuntimeError, TypeError, AttributeError) as e:
        lines = str(e).splitlines()
        raise CheckpointError(
            f"The checkpoint's weights do not fit a {cfg.network.arch} network as its config describes "
            f"({lines[1].strip() if len(lines) > 1 else e})."
        ) from None
    if result.missing_keys or result.unexpected_keys:
        m, u = result.missing_keys, result.unexpected_keys
        raise CheckpointError(
            f"The checkpoint's weights do not match a {cfg.network.arch} network: "
            f"{len(m)} missing (e.g. {m[:2]}), {len(u)} unexpected (e.g. {u[:2]})."
        )
    return net, cfg


# --- is it the same run? ------------------------------------------------------------------------


def config_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields where two config dicts differ, as 'name: old -> new'."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


@dataclass
class ConfigChange:
    """How a config differs from a saved run's: only in how it is watched, or in what it trains."""

    watching: list[str]  # knn_every, log_every: the same run, watched differently
    training: list[str]  # everything else: another run

    @property
    def same_run(self) -> bool:
        """True when the weights would come out the same: only monitoring settings differ."""
        return not self.training

    @property
    def fixed(self) -> list[str]:
        """Changes that the saved weights or optimiser state cannot follow (network, optimiser kind)."""
        return [d for d in self.training if d.startswith(FIXED)]


def compare_configs(saved: dict[str, Any], cfg: RunConfig) -> ConfigChange:
    """The one rule for "is this the same run?": compare a saved config with cfg.

    The saved config is read as a RunConfig first, so a setting that an older file lacks counts
    as its default (an old checkpoint resumes with the same command that started it).
    """
    diff = config_diff(RunConfig.from_dict(saved).to_dict(), cfg.to_dict())
    watching = [d for d in diff if d.startswith(WATCH_ONLY)]
    return ConfigChange(watching, [d for d in diff if d not in watching])


# --- the run folder -------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Where a run stands: epochs and steps done, their records, and config changes made on resume."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)


class RunFolder:
    """A run's folder: creates it, locks it while a run writes, restores and saves checkpoints.

    writer=False (DDP ranks other than 0): reads the checkpoint but never writes or locks.
    """

    def __init__(self, out: str | Path, writer: bool = True) -> None:
        self.path, self.writer = Path(out), writer
        self.checkpoint = self.path / CHECKPOINT
        self.saved_epoch: int | None = None  # the epoch of this run's newest complete checkpoint
        blocker = next((p for p in (self.path, *self.path.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise WriteError(f"Cannot use {self.path} as the output folder: {blocker} is a file, not a folder; {ELSEWHERE}.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WriteError(f"Cannot create the output folder {self.path} ({e.strerror or e}); {ELSEWHERE}.") from None

    def lock(self) -> contextlib.AbstractContextManager:
        """Hold run.lock while a run writes here (`lock.run_lock`); a reader (writer=False) takes no lock."""
        return run_lock(self.path, ELSEWHERE) if self.writer else contextlib.nullcontext()

    def restore(self, net: BYOLNetworks, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                gen: torch.Generator, cfg: RunConfig, resume: bool, override: bool, device: torch.device) -> TrainState:
        """The state to start from: the checkpoint's when resuming (loaded into net, optimizer, scaler, gen), else a fresh one."""
        partial = remove_partial_writes(self.checkpoint) if self.writer else []  # a write killed half-way is never read
        if partial:
            print(f"Removed {len(partial)} incomplete checkpoint file(s) left by an interrupted write ({partial[0].name}).")
        if not (resume and self.checkpoint.exists()):
            if resume and self.writer:
                print(f"No checkpoint in {self.path} to resume from; starting from scratch.")
            elif self.checkpoint.exists() and self.writer:
                print(
                    f"Starting a new run in {self.path}; its existing checkpoint will be replaced after the first epoch "
                    "(use --resume to continue it instead)."
                )
            return TrainState()
        state = load_checkpoint(self.checkpoint, map_location=device)
        check_checkpoint(state, self.checkpoint, resume=True)
        overrides = self._adopt_or_refuse(state, cfg, override)
        try:
            net.load_state_dict(state["model"])
            settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
            optimizer.load_state_dict(state["optimizer"])  # its slots (momentum, Adam moments) and old settings
            for group, setting in zip(optimizer.param_groups, settings):
                group.update(setting)  # settings come from cfg (they differ only under override)
            if scaler.is_enabled() and "scaler" in state:
                scaler.load_state_dict(state["scaler"])
            gen.set_state(state["rng"]["augment"].to("cpu"))  # older checkpoints also hold torch's global state: unused
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(
                f"Cannot resume {self.checkpoint}: its saved state does not fit this run ({first}); start a new --out folder."
            ) from None
        self.saved_epoch = state["epoch"]
        return TrainState(state["epoch"], state["step"], list(state["history"]), overrides)

    def _adopt_or_refuse(self, state: dict[str, Any], cfg: RunConfig, override: bool) -> list[dict[str, Any]]:
        """Stop when cfg is another run than the checkpoint's, unless override; return the record of overrides."""
        overrides = list(state.get("config_overrides", []))
        change = compare_configs(state["config"], cfg)
        if change.watching and self.writer:
            print(f"Resuming {self.checkpoint} with other monitoring settings: {', '.join(change.watching)}.")
        if change.same_run:
            return overrides
        if not override:
            raise ValueError(
                f"Cannot resume {self.checkpoint}: the config differs from the checkpoint's in {', '.join(change.training)}; "
                "resume with the same settings, pass --override-config (override_config=True) to continue with the new "
                "ones, or start a new --out folder."
            )
        if change.fixed:
            raise ValueError(
                f"Cannot resume {self.checkpoint} even with --override-config: its weights and optimiser state cannot "
                f"follow a change of {', '.join(change.fixed)}; start a new --out folder."
            )
        if self.writer:
            print(f"Resuming {self.checkpoint} with a changed config, as --override-config asks: {', '.join(change.training)}.")
        return [*overrides, {"epoch": state["epoch"], "changes": change.training}]  # saved with the next checkpoint

    def save(self, run: TrainState, net: BYOLNetworks, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
             gen: torch.Generator, cfg: RunConfig, world_size: int = 1) -> None:
        """Write checkpoint.pt for the state after run.epoch epochs (the writer only)."""
        if self.writer:
            rng = {"augment": gen.get_state()}  # all the randomness of training: views (the batch order is seeded per epoch)
            state = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng, "epoch": run.epoch,
                     "step": run.step, "history": run.history, "config": cfg.to_dict()}
            optional = {"config_overrides": run.overrides, "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                        "world_size": world_size if world_size > 1 else None}
            save_checkpoint(self.checkpoint, {**state, **{k: v for k, v in optional.items() if v}})
        self.saved_epoch = run.epoch

    def write_text(self, name: str, text: str) -> None:
        """Write a file of the run folder atomically (the writer only)."""
        if self.writer:
            atomic_write_text(self.path / name, text, elsewhere=ELSEWHERE)

    def interrupted(self) -> str:
        """What to tell someone who pressed Ctrl-C: what is saved and how to continue."""
        if self.saved_epoch:
            return f"Interrupted; epoch {self.saved_epoch} is saved in {self.checkpoint}; call pretrain(..., resume=True) to continue."
        return "Interrupted before the first epoch was saved; nothing to resume."

    def kept(self) -> str:
        """Which checkpoint survives a failure now."""
        if self.saved_epoch is not None:
            return f"the last good checkpoint, {self.checkpoint} (epoch {self.saved_epoch}), is kept"
        return "no checkpoint of this run had been saved yet"

