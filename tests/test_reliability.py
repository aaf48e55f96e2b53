"""Reliability: runs killed at any moment resume bit for bit; bad input and full disks get one sentence.

The kill tests start real training processes (`python -m byol_course pretrain ...`, or the same
`main` through tests/_interrupted_run.py, which pauses it at a known step or inside a
checkpoint write) and kill them with SIGKILL or SIGINT. Everything runs on a folder of 40
16×16 images with one thread per process, a few seconds per process.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import byol_course.checkpoint as checkpoint_module
import byol_course.train as train_module
from byol_course.__main__ import main
from byol_course.data import DatasetError
from byol_course.networks import NetworkConfig
from byol_course.atomic import WriteError
from byol_course.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from byol_course.config import TrainConfig, check_config, classroom_config
from byol_course.optim import OptimConfig
from byol_course.train import TrainingDiverged, pretrain

from _tiny import tiny_config  # tests/_tiny.py: shared with the other loop tests

pytestmark = pytest.mark.usefixtures("one_thread")

HELPER = Path(__file__).with_name("_interrupted_run.py")
# one thread per process: the same float reductions in every process (bit-exact) and no oversubscription
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --- fixtures and helpers ----------------------------------------------------------------------


def _save_images(folder: Path, n: int, rng: np.random.Generator, name: str = "{i:02d}.png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / name.format(i=i))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of 20 images: 32 train images after the 80/20 split, 4 steps per epoch at batch 8."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        _save_images(root / cls, 20, rng)
    return root


def cli(photos: Path, out: Path, *extra: str, epochs: int = 3) -> list[str]:
    """A tiny `pretrain --no-eval` command (the classroom recipe at 16×16, batch 8)."""
    return [
        "pretrain", "--dataset", f"folder:{photos}", "--image-size", "16", "--batch-size", "8",
        "--epochs", str(epochs), "--device", "cpu", "--no-progress", "--no-eval", "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def partials(folder: Path) -> list[Path]:
    """Temporary files of unfinished checkpoint writes."""
    return sorted(folder.glob(".checkpoint.pt.*.tmp"))


def one_error_line(err: str) -> str:
    """stderr holds one `error:` line (after any one-line warnings) and no traceback; return it."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("error: "), err
    assert all(line.startswith("warning: ") for line in lines[:-1]), err
    return lines[-1]


def run_main(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _default_sigint() -> None:
    """In the child: Ctrl-C's default action, even when pytest itself runs in the background.

    A shell starts background jobs (`cmd &`, nohup) with SIGINT ignored, children inherit that,
    and Python then installs no KeyboardInterrupt handler: the SIGINT tests would see a process
    that ignores Ctrl-C. A student's terminal never does this; CI runners may.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(argv: list[str], log: Path, pause: tuple[Path, str] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, str(HELPER), str(pause[0]), pause[1], "--", *argv] if pause else [sys.executable, "-m", "byol_course", *argv]
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen(cmd, stdout=out, stderr=err, env=ENV, preexec_fn=_default_sigint)


def _wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before {path.name}: {log.with_suffix('.err').read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {path}")
        time.sleep(0.02)


def kill_at(where: str, argv: list[str], tmp: Path, sig: int = signal.SIGKILL) -> subprocess.Popen:
    """Run argv through the helper, wait until it pauses at `where`, send `sig`, wait for the end."""
    flag = tmp / f"paused-{where.replace(':', '-').replace('.', '_')}-{time.monotonic_ns()}"
    log = tmp / flag.name
    proc = _spawn(argv, log, (flag, where))
    try:
        _wait_for(flag, proc, log)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.log = log  # type: ignore[attr-defined]
    return proc


def assert_same(a, b, where: str = "state") -> None:
    """Nested dicts/lists of tensors and numbers are equal bit for bit (wall-clock times excepted)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        keys = set(a) - {"wall_seconds"}
        assert keys == set(b) - {"wall_seconds"}, f"{where}: keys {sorted(keys ^ (set(b) - {'wall_seconds'}))}"
        for k in keys:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


# --- 1. killed at any moment, resumed bit for bit ---------------------------------------------


def test_sigkill_anywhere_then_resume_ends_bit_identical(photos: Path, tmp_path: Path) -> None:
    """SIGKILL mid-epoch, then inside a checkpoint write; --resume after each.

    The final models, target, optimiser state, RNG streams, step and losses equal those of a
    run that never stopped, bit for bit; a half-published checkpoint is never picked up.
    """
    reference = _spawn(cli(photos, tmp_path / "ref"), tmp_path / "ref-log")  # runs alongside
    run = tmp_path / "run"
    try:
        # 1. killed after step 6 of 12, in the middle of epoch 2: epoch 1's checkpoint is on disk
        assert kill_at("step:6", cli(photos, run), tmp_path).returncode == -signal.SIGKILL
        assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1 and partials(run) == []

        # 2. --resume from epoch 1; killed inside the write of epoch 2's checkpoint, when its temporary
        #    file is complete and fsynced but not yet renamed: epoch 1's checkpoint stays the one on disk
        assert kill_at("save:checkpoint.pt:1", cli(photos, run, "--resume"), tmp_path).returncode == -signal.SIGKILL
        assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1
        assert len(partials(run)) == 1 and partials(run)[0].stat().st_size > 0

        # 3. the real command line resumes from epoch 1 (not from the unpublished epoch 2) to the end
        done = subprocess.run([sys.executable, "-m", "byol_course", *cli(photos, run, "--resume")], capture_output=True, text=True, env=ENV, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Removed 1 incomplete checkpoint file" in done.stdout
        assert partials(run) == []

        assert reference.wait(timeout=120) == 0, (tmp_path / "ref-log.err").read_text()
    finally:
        if reference.poll() is None:
            reference.kill()
    want, got = load_checkpoint(tmp_path / "ref" / "checkpoint.pt"), load_checkpoint(run / "checkpoint.pt")
    assert got["epoch"] == 3 and got["step"] == 12
    assert_same(want, got)  # model (online and target), optimiser, RNG streams, step, history, config


def test_a_partial_write_without_any_checkpoint_is_not_resumed(tmp_path: Path, images: torch.Tensor, capsys: pytest.CaptureFixture) -> None:
    """A run killed inside its first checkpoint write leaves only a temporary file: --resume starts over and removes it."""
    pretrain(tiny_config(epochs=1), tmp_path / "done", train_images=images, progress=False)
    (tmp_path / "run").mkdir()
    shutil.copy(tmp_path / "done" / "checkpoint.pt", tmp_path / "run" / ".checkpoint.pt.k1ll3d.tmp")  # complete, never renamed
    _, history = pretrain(tiny_config(epochs=1), tmp_path / "run", train_images=images, progress=False, resume=True)
    printed = capsys.readouterr().out
    assert "Removed 1 incomplete checkpoint file(s)" in printed and "No checkpoint in" in printed
    assert [h["epoch"] for h in history] == [1] and partials(tmp_path / "run") == []


# --- 2. a different config on resume ----------------------------------------------------------


def test_override_config_resumes_and_records_the_change(tmp_path: Path, images: torch.Tensor, capsys: pytest.CaptureFixture) -> None:
    """override_config=True continues with the new settings, prints the changed fields and records them."""
    pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, stop_after_epochs=1)
    new = tiny_config(epochs=3, tau_base=0.9)
    new.optim.weight_decay = 1e-3
    with pytest.raises(ValueError, match=r"optim\.weight_decay: 1\.5e-06 -> 0\.001, train\.epochs: 2 -> 3, train\.tau_base: 0\.99 -> 0\.9; .*--override-config"):
        pretrain(new, tmp_path, train_images=images, progress=False, resume=True)
    capsys.readouterr()
    _, history = pretrain(new, tmp_path, train_images=images, progress=False, resume=True, override_config=True)
    assert "with a changed config, as --override-config asks: optim.weight_decay" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert [h["epoch"] for h in history] == [1, 2, 3] and state["epoch"] == 3
    assert state["config"] == new.to_dict()
    assert state["optimizer"]["param_groups"][0]["weight_decay"] == 1e-3  # the new setting, not the checkpoint's
    assert state["config_overrides"] == [
        {"epoch": 1, "changes": ["optim.weight_decay: 1.5e-06 -> 0.001", "train.epochs: 2 -> 3", "train.tau_base: 0.99 -> 0.9"]}
    ]
    # the adopted config is now the checkpoint's: a plain resume with it needs no override
    pretrain(new, tmp_path, train_images=images, progress=False, resume=True)


def test_override_config_cannot_change_the_network_or_optimiser_kind(tmp_path: Path, images: torch.Tensor) -> None:
    """Weights and optimiser slots cannot follow another architecture or optimiser: refused, naming the field."""
    pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, stop_after_epochs=1)
    wider = tiny_config(epochs=2)
    wider.network = NetworkConfig(arch="convnet", hidden_dim=32, proj_dim=8, convnet_width=8)
    with pytest.raises(ValueError, match=r"even with --override-config.*network\.convnet_width: 4 -> 8"):
        pretrain(wider, tmp_path, train_images=images, progress=False, resume=True, override_config=True)
    adam = tiny_config(epochs=2)
    adam.optim = OptimConfig(name="adamw", base_lr=1e-3)
    with pytest.raises(ValueError, match=r"optim\.name: 'lars' -> 'adamw'"):
        pretrain(adam, tmp_path, train_images=images, progress=False, resume=True, override_config=True)
    with pytest.raises(ValueError, match="only applies when resuming"):
        pretrain(tiny_config(), tmp_path, train_images=images, progress=False, override_config=True)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"] == tiny_config(epochs=2).to_dict()


def test_cli_resume_with_other_settings_stops_unless_overridden(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--resume with other flags names the fields and exits 1; --override-config continues and prints them."""
    out = tmp_path / "run"
    assert main(cli(photos, out, epochs=1)) == 0
    code, _, err = run_main(cli(photos, out, "--resume", "--tau", "0.9", epochs=2), capsys)
    assert code == 1
    line = one_error_line(err)
    tau = classroom_config().train.tau_base  # the CPU recipe the CLI picks for a folder of photos
    assert f"train.epochs: 1 -> 2, train.tau_base: {tau:g} -> 0.9" in line and "--override-config" in line
    code, printed, err = run_main(cli(photos, out, "--resume", "--tau", "0.9", "--override-config", epochs=2), capsys)
    assert code == 0, err
    assert f"as --override-config asks: train.epochs: 1 -> 2, train.tau_base: {tau:g} -> 0.9" in printed
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2
    code, _, err = run_main(cli(photos, out, "--override-config", epochs=2), capsys)
    assert code == 1 and "only applies when resuming" in one_error_line(err)


def test_cli_override_with_evaluation_trains_then_reports(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Without --no-eval the run is trained with the new settings first; run_and_report's plain resume then finds it finished."""
    import byol_course.report

    out = tmp_path / "run"
    assert main(cli(photos, out, epochs=1)) == 0
    calls = []

    def report_without_evaluation(cfg, out, resume=False, progress=True, baselines=True):
        calls.append(resume)  # what run_and_report does, minus evaluation and figures (UMAP takes ~15 s)
        from byol_course.report import load_train_split

        train, cfg = load_train_split(cfg)
        return pretrain(cfg, out, resume=resume, train_images=train.images, progress=False)

    monkeypatch.setattr(byol_course.report, "run_and_report", report_without_evaluation)
    args = [a for a in cli(photos, out, "--resume", "--override-config", epochs=2) if a != "--no-eval"]
    code, printed, err = run_main(args, capsys)
    assert code == 0, err
    assert calls == [True] and "train.epochs: 1 -> 2" in printed
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 2 and state["config_overrides"][0]["epoch"] == 1


# --- 3. Ctrl-C -------------------------------------------------------------------------------


def test_ctrl_c_mid_training_leaves_a_usable_checkpoint_and_one_line(photos: Path, tmp_path: Path) -> None:
    """SIGINT to `python -m byol_course pretrain`: exit 130, one line saying what is saved and how to resume."""
    out = tmp_path / "run"
    log = tmp_path / "ctrl-c"
    proc = _spawn(cli(photos, out, epochs=500), log)
    try:
        _wait_for(out / "checkpoint.pt", proc, log)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    err = log.with_suffix(".err").read_text()
    assert len(err.strip().splitlines()) == 1, err
    m = re.fullmatch(r"Interrupted; epoch (\d+) of 500 is saved in (.+); run the same command with --resume to continue\.", err.strip())
    assert m and Path(m[2]) == out / "checkpoint.pt", err
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == int(m[1]) >= 1
    assert partials(out) == []


def test_ctrl_c_inside_a_checkpoint_write_keeps_the_previous_one(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """SIGINT while epoch 2's checkpoint is being written: epoch 1's stays, the temporary file is removed; --resume finishes."""
    out = tmp_path / "run"
    proc = kill_at("save:checkpoint.pt:2", cli(photos, out), tmp_path, sig=signal.SIGINT)
    assert proc.returncode == 130
    err = proc.log.with_suffix(".err").read_text().strip()
    assert err == f"Interrupted; epoch 1 of 3 is saved in {out / 'checkpoint.pt'}; run the same command with --resume to continue."
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1 and partials(out) == []
    assert main(cli(photos, out, "--resume")) == 0
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 3


# --- 4. bad config: one sentence, through the CLI and the Python API ----------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--batch-size", "0"], r"batch size must be at least 2 \(BatchNorm needs two samples\), got 0"),
        (["--batch-size", "1000"], r"Batch size 1000 is larger than the dataset \(32 images\); use --batch-size 32 or less"),
        (["--tau", "-0.1"], r"tau must be in \[0, 1\], got -0\.1"),
        (["--tau", "nan"], r"tau must be in \[0, 1\], got nan"),
        (["--lr", "0"], r"learning rate must be positive and finite, got 0\.0"),
        (["--lr", "nan"], r"learning rate must be positive and finite, got nan"),
        (["--lr", "inf"], r"learning rate must be positive and finite, got inf"),
        (["--image-size", "4"], r"Image size 4 is too small for the convnet: its three 2×2 max-pools need at least 8×8 pixels; use --image-size 8"),
        (["--image-size", "7"], r"Image size 7 is too small for the convnet"),
        (["--image-size", "1", "--arch", "resnet18"], r"Image size 1 is too small for the resnet18: .* at least 2×2 pixels"),
        (["--seed", "-1"], r"the seed must be 0 or more, got -1"),
        (["--arch", ""], r"Unknown architecture ''; choose one of convnet, resnet18, resnet50"),
        (["--device", "tpu"], r"Unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"),
    ],
)
def test_cli_bad_config_is_one_sentence(flags: list[str], message: str, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Each bad setting: exit 1, one `error:` line saying what is wrong and what to use, no traceback."""
    code, _, err = run_main(cli(photos, tmp_path / "run", *flags, epochs=1), capsys)
    assert code == 1
    assert re.search(message, one_error_line(err)), err


def test_cli_smallest_convnet_image_size_trains(photos: Path, tmp_path: Path) -> None:
    """8×8 is the real minimum for the ConvNet: it trains (7×7 is refused above)."""
    assert main(cli(photos, tmp_path / "run", "--image-size", "8", epochs=1)) == 0


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: OptimConfig(base_lr=0.0), "learning rate must be positive and finite, got 0.0"),
        (lambda: OptimConfig(base_lr=-1e-3), "learning rate must be positive"),
        (lambda: OptimConfig(base_lr=float("nan")), "learning rate must be positive and finite, got nan"),
        (lambda: OptimConfig(name="adam"), "unknown optimiser 'adam', choose one of lars, sgd, adamw"),
        (lambda: OptimConfig(momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda: TrainConfig(tau_base=-0.1), r"tau must be in \[0, 1\]"),
        (lambda: TrainConfig(tau_base=float("nan")), r"tau must be in \[0, 1\], got nan"),
        (lambda: TrainConfig(seed=-1), "the seed must be 0 or more"),
        (lambda: TrainConfig(log_every=0), "log_every must be at least 1"),
        (lambda: NetworkConfig(arch="vgg"), "Unknown architecture 'vgg'; choose one of convnet, resnet18, resnet50"),
    ],
)
def test_api_bad_config_is_one_sentence(build, message: str) -> None:
    """The Python API refuses the same settings when the config is built."""
    with pytest.raises(ValueError, match=message) as info:
        build()
    assert "\n" not in str(info.value) and str(info.value).endswith(".")


def test_every_architecture_has_a_minimum_image_size() -> None:
    """check_config knows the smallest input of every backbone networks.py offers."""
    from byol_course.networks import ARCHS
    from byol_course.config import MIN_IMAGE_SIZE

    assert set(MIN_IMAGE_SIZE) == set(ARCHS)


def test_api_checks_configs_edited_in_place(tmp_path: Path, images: torch.Tensor) -> None:
    """pretrain re-checks a config whose fields were changed after it was built (as notebooks do)."""
    cfg = tiny_config()
    cfg.train.batch_size = 0
    with pytest.raises(ValueError, match="batch size must be at least 2"):
        pretrain(cfg, tmp_path, train_images=images, progress=False)
    cfg = tiny_config()
    cfg.augment.image_size = 4
    with pytest.raises(ValueError, match="Image size 4 is too small for the convnet"):
        check_config(cfg)
    with pytest.raises(ValueError, match="Image size 4 is too small"):
        pretrain(cfg, tmp_path, train_images=images, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_api_unknown_dataset_device_and_tiny_dataset(tmp_path: Path, images: torch.Tensor) -> None:
    """Unknown dataset (lists the names), a GPU that is not there, a dataset of one image."""
    with pytest.raises(DatasetError, match=r"Unknown dataset 'imagenet'; use one of: embedded, cifar10, stl10, folder:PATH\."):
        pretrain(tiny_config(dataset="imagenet"), tmp_path, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is visible; use --device cpu or auto"):
            pretrain(tiny_config(device="cuda"), tmp_path, train_images=images, progress=False)
    with pytest.raises(ValueError, match=r"has 1 image\(s\) but BYOL needs at least 2"):
        pretrain(tiny_config(batch_size=2), tmp_path, train_images=images[:1], progress=False)


def test_cli_out_of_memory_is_one_sentence(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A GPU out-of-memory error becomes one line saying what to lower."""
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)

    def no_memory(*args, **kwargs):
        raise oom("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 14.75 GiB total capacity)\nmore details")

    monkeypatch.setattr(train_module, "pretrain", no_memory)
    code, _, err = run_main(cli(photos, tmp_path / "run"), capsys)
    assert code == 1
    assert "Out of memory (CUDA out of memory. Tried to allocate 2.00 GiB" in one_error_line(err)
    assert "lower --batch-size" in err


# --- 5. numerics --------------------------------------------------------------------------------


def test_cli_diverging_learning_rate_stops_with_step_value_and_advice(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A learning rate that diverges: exit 1, one line with the step, the value and what to try; the good checkpoint stays."""
    code, _, err = run_main(cli(photos, tmp_path / "fresh", "--lr", "1e30", epochs=1), capsys)
    assert code == 1
    line = one_error_line(err)
    assert re.search(r"The loss became (nan|inf) at step \d+ \(epoch 1, .*lower the learning rate \(--lr\)", line), line
    assert "no checkpoint of this run had been saved yet" in line
    assert err.count("warning: AdamW with learning rate") == 1  # the warning is one line too

    out = tmp_path / "run"
    assert main(cli(photos, out, epochs=1)) == 0
    good = load_checkpoint(out / "checkpoint.pt")
    code, _, err = run_main(cli(photos, out, "--resume", "--override-config", "--lr", "1e30", epochs=3), capsys)
    assert code == 1
    line = one_error_line(err)
    assert re.search(r"at step (5|6|7|8) \(epoch 2, ", line) and f"the last good checkpoint, {out / 'checkpoint.pt'} (epoch 1), is kept" in line, line
    kept = load_checkpoint(out / "checkpoint.pt")
    assert kept["epoch"] == 1 and kept["config"] == good["config"]  # the override is saved only with a good epoch
    assert_same(good["model"], kept["model"])


def test_api_divergence_before_any_checkpoint_says_so(tmp_path: Path, images: torch.Tensor) -> None:
    """The message does not promise a checkpoint that this run never wrote."""
    bad = tiny_config(epochs=2, log_every=1)
    bad.optim = OptimConfig(name="sgd", base_lr=1e30, warmup_epochs=0)
    with pytest.raises(TrainingDiverged, match=r"at step 2 .*no checkpoint of this run had been saved yet\.$"):
        pretrain(bad, tmp_path, train_images=images, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


# --- 6. disk full, read-only folder, output path under a file ---------------------------------------


class _FullDisk:
    """A file that takes `room` bytes and then fails like a full disk (torch.save writes through it)."""

    def __init__(self, f, room: int) -> None:
        self._f, self._room = f, room

    def write(self, data) -> int:
        if len(data) > self._room:
            self._f.write(bytes(data)[: self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def _disk_fills_after(monkeypatch: pytest.MonkeyPatch, good_writes: int) -> None:
    """Checkpoint writes after the first `good_writes` hit a full disk half-way."""
    count = [0]

    def open_(path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        if "w" in mode and Path(path).name.startswith(".checkpoint.pt."):
            count[0] += 1
            if count[0] > good_writes:
                return _FullDisk(f, room=1000)
        return f

    monkeypatch.setattr(checkpoint_module, "open", open_, raising=False)


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path: Path, images: torch.Tensor, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC half-way through epoch 2's checkpoint: one sentence, epoch 1's checkpoint intact, no temporary file."""
    _disk_fills_after(monkeypatch, good_writes=1)
    with pytest.raises(WriteError) as info:
        pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False)
    path = tmp_path / "checkpoint.pt"
    assert str(info.value) == (
        f"Could not write checkpoint {path} (No space left on device); free some space or choose another --out "
        "folder; the previous checkpoint is intact."
    )
    assert info.value.errno == errno.ENOSPC
    assert load_checkpoint(path)["epoch"] == 1 and partials(tmp_path) == []


def test_read_only_folder_while_checkpointing(tmp_path: Path, images: torch.Tensor, monkeypatch: pytest.MonkeyPatch) -> None:
    """EROFS when creating the temporary file: one sentence, the previous checkpoint intact."""
    import byol_course.atomic as atomic

    pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, stop_after_epochs=1)
    real = atomic.tempfile.mkstemp

    def mkstemp(*args, prefix="", **kwargs):
        if prefix.startswith(".checkpoint.pt"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    with pytest.raises(WriteError, match=r"\(Read-only file system\); make the folder writable or choose another --out folder; the previous checkpoint is intact\.$"):
        pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, resume=True)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1 and partials(tmp_path) == []


def test_cli_disk_full_and_out_under_a_file_are_one_sentence(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The same through the command line: exit 1 and one line."""
    (tmp_path / "a-file").write_text("not a folder")
    code, _, err = run_main(cli(photos, tmp_path / "a-file" / "run"), capsys)
    assert code == 1
    assert one_error_line(err) == (
        f"error: Cannot use {tmp_path / 'a-file' / 'run'} as the output folder: {tmp_path / 'a-file'} is a file, not a "
        "folder; choose another --out folder."
    )
    code, _, err = run_main(cli(photos, tmp_path / "a-file"), capsys)
    assert code == 1 and "is a file, not a folder" in one_error_line(err)

    _disk_fills_after(monkeypatch, good_writes=1)
    out = tmp_path / "run"
    code, _, err = run_main(cli(photos, out, epochs=2), capsys)
    assert code == 1
    assert "(No space left on device); free some space" in one_error_line(err) and "previous checkpoint is intact" in err
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1 and partials(out) == []


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A real 512 KiB file system (needs root and mount permission; skipped otherwise)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True, timeout=20)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=20)


def test_real_full_and_read_only_disk(small_tmpfs: Path, images: torch.Tensor) -> None:
    """On a real full file system and then a read-only one: one sentence each, the checkpoint intact."""
    out = small_tmpfs / "run"
    pretrain(tiny_config(epochs=2), out, train_images=images, progress=False, stop_after_epochs=1)
    size = (out / "checkpoint.pt").stat().st_size
    with open(small_tmpfs / "filler", "wb") as f:  # leave room for about half a checkpoint
        f.write(b"\0" * (shutil.disk_usage(small_tmpfs).free - size // 2))
    with pytest.raises(WriteError, match=r"^Could not write checkpoint .* \(No space left on device\); .*the previous checkpoint is intact\.$"):
        pretrain(tiny_config(epochs=2), out, train_images=images, progress=False, resume=True)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1 and partials(out) == []

    (small_tmpfs / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True, timeout=20)
    with pytest.raises(WriteError, match=r"\(Read-only file system\); make the folder writable or choose another --out folder"):
        pretrain(tiny_config(epochs=2), out, train_images=images, progress=False, resume=True)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1


# --- resuming checkpoints that cannot be continued ------------------------------------------------


def test_resume_from_a_checkpoint_without_training_state_or_with_a_broken_one(tmp_path: Path, images: torch.Tensor, photos: Path, capsys: pytest.CaptureFixture) -> None:
    """A weights-only checkpoint, a tampered optimiser state, a truncated file: one sentence each, via API and CLI."""
    pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, stop_after_epochs=1)
    path = tmp_path / "checkpoint.pt"
    state = load_checkpoint(path)
    save_checkpoint(path, {"model": state["model"], "config": state["config"]})
    with pytest.raises(CheckpointError, match="lacks the training state optimizer, rng, epoch, step, history, so it can be evaluated but not continued"):
        pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, resume=True)
    state["optimizer"]["param_groups"] = state["optimizer"]["param_groups"][:1]
    save_checkpoint(path, state)
    with pytest.raises(CheckpointError, match=r"its saved state does not fit this run \(.*\); start a new --out folder\.$"):
        pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, resume=True)

    out = tmp_path / "cli"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 half a zip file")
    code, _, err = run_main(cli(photos, out, "--resume"), capsys)
    assert code == 1 and "the file is truncated or not a checkpoint" in one_error_line(err)


# --- 7. datasets through the command line ----------------------------------------------------------


@pytest.fixture(scope="module")
def bad_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(1)
    (root / "empty").mkdir()
    _save_images(root / "one-class" / "cat", 5, rng)
    _save_images(root / "mixed" / "cat", 5, rng)
    _save_images(root / "mixed", 1, rng, "loose{i}.png")
    (root / "not-images").mkdir()
    (root / "not-images" / "notes.txt").write_text("hello")
    (root / "not-images" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    os.symlink("loop", root / "loop")  # the dataset path is a symlink to itself
    _save_images(root / "class-loop" / "a", 10, rng)
    os.symlink("b", root / "class-loop" / "b")  # the second class folder is a symlink to itself
    # loops inside a good dataset: a folder link to an ancestor, a self link, two image names linked to each other
    for cls in ("a", "b"):
        _save_images(root / "loops-inside" / cls, 10, rng)
    os.symlink(root / "loops-inside", root / "loops-inside" / "a" / "up")
    os.symlink("self", root / "loops-inside" / "b" / "self")
    os.symlink("y.png", root / "loops-inside" / "b" / "x.png")
    os.symlink("x.png", root / "loops-inside" / "b" / "y.png")
    for cls in ("chat été", "chien 犬"):
        _save_images(root / "ünï cødé dir" / cls, 10, rng, "ïmg {i}.png")
    return root


@pytest.mark.parametrize(
    "name, message",
    [
        ("empty", r"contains no images \(.jpg .*\); add images directly \(unlabeled\) or in one subfolder per class"),
        ("one-class", r"has only one class folder \(cat\); a labelled dataset needs at least two classes"),
        ("mixed", r"holds both image files \(1, e.g. loose0.png\) and subfolders \(cat\), so its layout is ambiguous"),
        ("not-images", r"contains no images"),
        ("loop", r"symbolic link that leads nowhere"),
        ("class-loop", r"has only one class folder \(a\)"),
    ],
)
def test_cli_bad_dataset_folder_is_one_sentence(name: str, message: str, bad_folders: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """data.py's DatasetErrors reach the user as one line and exit 1 through the command line."""
    args = cli(bad_folders, tmp_path / "run")
    args[args.index("--dataset") + 1] = f"folder:{bad_folders / name}"
    code, _, err = run_main(args, capsys)
    assert code == 1
    assert re.search(message, one_error_line(err)), err


@pytest.mark.parametrize("name", ["loops-inside", "ünï cødé dir"])
def test_cli_symlink_loops_and_unicode_paths_train(name: str, bad_folders: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Symlink loops inside a dataset are skipped without hanging; unicode and spaces in paths just work."""
    out = tmp_path / "rün öut"
    args = cli(bad_folders, out, "--batch-size", "4", epochs=1)
    args[args.index("--dataset") + 1] = f"folder:{bad_folders / name}"
    code, printed, err = run_main(args, capsys)
    assert code == 0, err
    assert "Traceback" not in err
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert f"--checkpoint {out / 'checkpoint.pt'}" in printed
