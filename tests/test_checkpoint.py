"""Checkpoints that are wrong in any way, two runs into one folder, and functions that leave their caller alone.

- Malformed checkpoints (property test): any entry missing or of the wrong type, at the top level
  or inside the saved config, is refused with one sentence by `load_checkpoint`, `load_networks` or
  `pretrain(..., resume=True)` — never a bare KeyError or TypeError. A config *setting* missing from
  an older file takes its default.
- One run per folder: a second run into a folder a live run holds is refused with one sentence;
  the lock of a run that died is taken over, and that is said.
- No function changes its caller's config or a network's train/eval mode behind its back.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _tiny import tiny_config
from byol_course.checkpoint import CheckpointError, load_checkpoint, load_networks, save_checkpoint
from byol_course.config import RunConfig
from byol_course.lock import LOCK, RunLocked
from byol_course.train import pretrain

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (32, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, images: torch.Tensor) -> dict:
    """A real checkpoint after epoch 1 of 2, loaded."""
    out = tmp_path_factory.mktemp("saved")
    pretrain(tiny_config(epochs=2), out, train_images=images, progress=False, stop_after_epochs=1)
    return torch.load(out / "checkpoint.pt", weights_only=True)


# --- malformed checkpoints -----------------------------------------------------------------------

_WRONG = {  # values of the wrong type for a setting of each type
    int: ["ten", 1.5, None, [], True],
    float: ["fast", None, [], True],
    bool: [1, "yes", None],
    str: [3, None, []],
    tuple: ["0.2, 1.0", [0.2], 3, None, [0.2, "1"]],
    dict: [[], "x", None, 3],
}
_TOP = {  # top-level entries and wrong values for each
    "model": [[], "weights", {"w": "not a tensor"}, None],
    "config": [[], "config", None, 3],
    "optimizer": [[], {"state": 1, "param_groups": []}, {"param_groups": []}, "adam"],
    "rng": [{}, {"augment": 3}, [], {"augment": torch.zeros(3)}],
    "epoch": [-1, "1", 1.5, None, True],
    "step": [-3, "3", 2.0, None],
    "history": [{}, [1], "history", None],
}


def _config_leaves(d: dict, prefix: tuple = ()) -> list[tuple[tuple, type]]:
    """Every setting of a saved config as (path, type), and every section as (path, dict)."""
    out = []
    for k, v in d.items():
        path = (*prefix, k)
        if isinstance(v, dict):
            out += [(path, dict), *_config_leaves(v, path)]
        else:
            out.append((path, {bool: bool, int: int, float: float, str: str, list: tuple}[type(v)]))
    return out


def _edit(state: dict, path: tuple, value, delete: bool) -> dict:
    state = copy.copy(state)
    state["config"] = copy.deepcopy(state["config"])
    node = state
    for k in path[:-1]:
        node = node[k]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return state


def _mutations(saved_config: dict):
    top = [((k,), v, False) for k, values in _TOP.items() for v in values] + [((k,), None, True) for k in _TOP]
    inner = []
    for path, kind in _config_leaves(saved_config):
        full = ("config", *path)
        inner += [(full, v, False) for v in _WRONG[kind]]
        inner.append((full, None, True))
    return st.sampled_from(top + inner)


def _one_sentence(e: Exception) -> str:
    msg = str(e)
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_malformed_checkpoint_is_one_sentence(data, saved: dict, images: torch.Tensor, tmp_path_factory) -> None:
    """Delete an entry or give it a value of the wrong type: one sentence (a missing setting takes its default)."""
    path, value, delete = data.draw(_mutations(saved["config"]))
    state = _edit(saved, path, value, delete)
    out = tmp_path_factory.mktemp("bad")
    save_checkpoint(out / "checkpoint.pt", state)
    leaf = path[0] == "config" and not isinstance(_lookup(saved, path), dict)
    if delete and leaf:  # an older file that lacks a setting: the default (or one sentence if the weights don't fit it)
        try:
            cfg = load_networks(load_checkpoint(out / "checkpoint.pt"))[1]
        except CheckpointError as e:
            assert "do not fit" in _one_sentence(e) or "do not match" in str(e)
            return
        assert _lookup({"config": cfg.to_dict()}, path) == _field_default(path[1:])
        return
    with pytest.raises((CheckpointError, ValueError)) as caught:
        loaded = load_checkpoint(out / "checkpoint.pt")
        load_networks(loaded)
        pretrain(tiny_config(epochs=2), out, train_images=images, progress=False, resume=True)
    assert not isinstance(caught.value, (KeyError, TypeError))
    msg = _one_sentence(caught.value)
    assert "checkpoint" in msg or str(out) in msg, msg


def _field_default(path: tuple):
    """The dataclass default of a setting, e.g. ('augment', 'view2', 'blur_p') -> ViewConfig's blur_p default."""
    from byol_course.augment import ViewConfig

    cls = ViewConfig if path[-2] in ("view1", "view2") else type(getattr(RunConfig(), path[0]))
    f = next(f for f in dataclasses.fields(cls) if f.name == path[-1])
    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return list(value) if isinstance(value, tuple) else value


def _lookup(state: dict, path: tuple):
    node = state
    for k in path:
        node = node[k]
    return node


def test_a_config_without_a_section_names_it(saved: dict, tmp_path: Path) -> None:
    """The case a user met: a config that lacks its 'augment' section was a bare KeyError: 'augment'."""
    state = _edit(saved, ("config", "augment"), None, delete=True)
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    with pytest.raises(CheckpointError, match=r"malformed: its config lacks the section\(s\) augment"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_a_mistyped_setting_names_it(saved: dict, tmp_path: Path) -> None:
    state = _edit(saved, ("config", "train", "epochs"), "ten", delete=False)
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    with pytest.raises(CheckpointError, match=r"config\.train\.epochs should be a whole number, got 'ten'"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_a_checkpoint_written_before_the_redesign_still_resumes(saved: dict, tmp_path: Path, images: torch.Tensor) -> None:
    """Older checkpoints also hold torch's global random state (rng.torch): they load and resume."""
    state = dict(saved, rng={**saved["rng"], "torch": torch.get_rng_state()})
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    _, history = pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, resume=True)
    assert [h["epoch"] for h in history] == [1, 2]


# --- one run per folder ---------------------------------------------------------------------------


def _lock(folder: Path, pid: int, host: str | None = None) -> None:
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK).write_text(f"{pid} {host or socket.gethostname()}\n")


def test_a_second_run_into_a_held_folder_is_refused(tmp_path: Path, images: torch.Tensor) -> None:
    """While a live process holds run.lock, another run into the folder stops with one sentence and writes nothing."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock(tmp_path, holder.pid)
        with pytest.raises(RunLocked) as caught:
            pretrain(tiny_config(epochs=1), tmp_path, train_images=images, progress=False)
        assert f"Another run (process {holder.pid}) is writing to {tmp_path}" in _one_sentence(caught.value)
        assert not (tmp_path / "checkpoint.pt").exists() and (tmp_path / LOCK).exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_runs_lock_is_taken_over_and_said(tmp_path: Path, images: torch.Tensor, capsys: pytest.CaptureFixture) -> None:
    """A lock whose process is gone (SIGKILL, a crashed kernel) is taken over; the lock is gone after the run."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _lock(tmp_path, gone.pid)
    pretrain(tiny_config(epochs=1), tmp_path, train_images=images, progress=False)
    assert f"Took over {tmp_path / LOCK}: the run that held it (process {gone.pid}) is no longer running." in capsys.readouterr().out
    assert not (tmp_path / LOCK).exists()


def test_the_lock_is_released_when_a_run_fails(tmp_path: Path, images: torch.Tensor) -> None:
    """An error inside the run (here a diverging loss) leaves no lock behind."""
    from byol_course.optim import OptimConfig
    from byol_course.train import TrainingDiverged

    bad = tiny_config(epochs=1, log_every=1)
    bad.optim = OptimConfig(name="sgd", base_lr=1e30, warmup_epochs=0)
    with pytest.raises(TrainingDiverged):
        pretrain(bad, tmp_path, train_images=images, progress=False)
    assert not (tmp_path / LOCK).exists()


def test_cli_second_run_into_one_out_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    """Two `pretrain --out X` at once: the second says so in one line and exits 1; the first is unharmed."""
    photos = tmp_path / "photos"
    from PIL import Image

    for c in ("a", "b"):
        (photos / c).mkdir(parents=True)
        for i in range(16):
            Image.new("RGB", (16, 16), (i * 15, 100 if c == "a" else 200, 50)).save(photos / c / f"{i}.png")
    out = tmp_path / "run"
    args = ["pretrain", "--dataset", f"folder:{photos}", "--image-size", "16", "--batch-size", "8", "--epochs", "2",
            "--device", "cpu", "--no-progress", "--no-eval", "--out", str(out)]  # fmt: skip
    flag = tmp_path / "paused"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}
    first = subprocess.Popen([sys.executable, str(ROOT / "tests" / "_interrupted_run.py"), str(flag), "step:2", "--", *args], env=env)
    try:
        for _ in range(600):
            if flag.exists() or first.poll() is not None:
                break
            __import__("time").sleep(0.1)
        assert flag.exists(), "the first run never reached its second step"
        second = subprocess.run([sys.executable, "-m", "byol_course", *args], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and f"Another run (process {first.pid}) is writing to {out}" in err[0], second.stderr
    finally:
        first.kill()
        first.wait()


# --- functions leave their caller's state alone ----------------------------------------------------


def _modes(net: torch.nn.Module) -> list[bool]:
    return [m.training for m in net.modules()]


def test_measurements_restore_every_modules_mode(images: torch.Tensor) -> None:
    """collapse_metrics, Monitor, extract_features and projection_2d leave train/eval mode as they found it."""
    from byol_course.collapse import projection_2d
    from byol_course.evaluate import Monitor, collapse_metrics, extract_features
    from byol_course.networks import build_networks

    cfg = tiny_config()
    net = build_networks(cfg.network, 0)
    net.train()
    net.target_backbone.eval()  # a mixed state must come back mixed
    before = _modes(net)
    labels = torch.arange(len(images)) % 2
    collapse_metrics(net, images, cfg.augment)
    Monitor(images, labels, images, labels, cfg.augment)(net, 1)
    extract_features(net.online_backbone, images, cfg.augment)
    projection_2d(net, cfg, images)
    assert _modes(net) == before


def test_loading_the_train_split_leaves_the_callers_config_alone() -> None:
    """load_train_split returns a normalised copy; the config passed in keeps its mean and std."""
    from byol_course.report import load_train_split

    cfg = tiny_config(dataset="embedded")
    cfg.augment = dataclasses.replace(cfg.augment, image_size=32)
    before = cfg.to_dict()
    train, normalised = load_train_split(cfg)
    assert cfg.to_dict() == before and normalised.augment.mean != cfg.augment.mean and len(train) > 0


def test_a_checkpoint_without_newer_settings_resumes_with_the_same_command(saved: dict, tmp_path: Path, images: torch.Tensor) -> None:
    """A file written before a setting existed (optim.clip_lr, optim.predictor_lr_scale) is the same run, not a changed one."""
    state = _edit(saved, ("config", "optim", "clip_lr"), None, delete=True)
    state = _edit(state, ("config", "optim", "predictor_lr_scale"), None, delete=True)
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    _, history = pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, resume=True)
    assert [h["epoch"] for h in history] == [1, 2]
