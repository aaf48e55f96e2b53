"""The training loop: bit-exact resume, atomic checkpoints, safe loading, the NaN guard."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from byol_course.networks import NetworkConfig
from byol_course.checkpoint import CheckpointError, load_checkpoint, load_networks, save_checkpoint
from byol_course.config import TrainConfig
from byol_course.optim import OptimConfig
from byol_course.train import TrainingDiverged, pretrain

from _tiny import tiny_config  # tests/_tiny.py: shared with the other loop tests


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8, generator=g)


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def test_resume_is_bit_exact(tmp_path: Path, images: torch.Tensor) -> None:
    """N steps == N/2 steps + checkpoint + resume + N/2 steps, bit for bit on CPU (weights, target, optimiser)."""
    cfg = tiny_config(epochs=4)
    full, hist_full = pretrain(cfg, tmp_path / "full", train_images=images, progress=False)
    pretrain(cfg, tmp_path / "split", train_images=images, progress=False, stop_after_epochs=2)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["epoch"] == 2
    resumed, hist_resumed = pretrain(cfg, tmp_path / "split", train_images=images, progress=False, resume=True)
    _assert_same_state(full.state_dict(), resumed.state_dict())
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert a["step"] == b["step"] == 4 * (48 // 16)
    for (ka, sa), (kb, sb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert torch.equal(a["rng"]["augment"], b["rng"]["augment"])
    assert [h["loss"] for h in hist_full] == [h["loss"] for h in hist_resumed]


def test_training_changes_online_and_target(tmp_path: Path, images: torch.Tensor) -> None:
    """Both networks move, and the target stays behind the online network (τ < 1)."""
    cfg = tiny_config(epochs=1)
    torch.manual_seed(cfg.train.seed)
    from byol_course.networks import BYOLNetworks

    init = BYOLNetworks(cfg.network)
    net, _ = pretrain(cfg, tmp_path, train_images=images, progress=False)
    w0 = init.online_backbone.features[0][0].weight
    assert not torch.equal(net.online_backbone.features[0][0].weight, w0)
    assert not torch.equal(net.target_backbone.features[0][0].weight, w0)
    assert not torch.equal(net.target_backbone.features[0][0].weight, net.online_backbone.features[0][0].weight)


def test_resume_with_other_config_names_the_fields(tmp_path: Path, images: torch.Tensor) -> None:
    """Resuming with a different config says which fields differ and stops."""
    pretrain(tiny_config(epochs=2), tmp_path, train_images=images, progress=False, stop_after_epochs=1)
    with pytest.raises(ValueError, match=r"train\.tau_base: 0\.99 -> 0\.9"):
        pretrain(tiny_config(epochs=2, tau_base=0.9), tmp_path, train_images=images, progress=False, resume=True)


def test_resume_accepts_other_monitoring_settings(tmp_path: Path, images: torch.Tensor, capsys) -> None:
    """How often we log or run kNN never changes the weights: a notebook run (knn_every=1) resumes from the CLI."""
    cfg = tiny_config(epochs=2, knn_every=1, log_every=1)
    full, _ = pretrain(cfg, tmp_path / "full", train_images=images, progress=False)
    pretrain(cfg, tmp_path / "split", train_images=images, progress=False, stop_after_epochs=1)
    resumed, _ = pretrain(tiny_config(epochs=2), tmp_path / "split", train_images=images, progress=False, resume=True)
    assert "train.knn_every: 1 -> 0" in capsys.readouterr().out
    _assert_same_state(full.state_dict(), resumed.state_dict())


def test_diverging_run_stops_with_step_and_keeps_last_checkpoint(tmp_path: Path, images: torch.Tensor) -> None:
    """A learning rate that diverges stops at the first non-finite loss, naming the step; the last good checkpoint stays."""
    cfg = tiny_config(epochs=3, log_every=1)
    pretrain(cfg, tmp_path, train_images=images, progress=False, stop_after_epochs=1)
    good = load_checkpoint(tmp_path / "checkpoint.pt")
    bad = tiny_config(epochs=3, log_every=1)
    bad.optim = OptimConfig(name="sgd", base_lr=1e30, warmup_epochs=0)
    with pytest.raises(TrainingDiverged, match=r"at step \d+.*lower the learning rate"):
        pretrain(bad, tmp_path / "bad", train_images=images, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == good["epoch"] == 1


def test_checkpoint_loads_with_weights_only_and_rebuilds_networks(tmp_path: Path, images: torch.Tensor) -> None:
    """A checkpoint holds only tensors and plain containers and rebuilds the exact networks."""
    net, _ = pretrain(tiny_config(epochs=1), tmp_path, train_images=images, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # would raise on any pickled object
    rebuilt, cfg = load_networks(state)
    _assert_same_state(net.state_dict(), rebuilt.state_dict())
    assert cfg == tiny_config(epochs=1)
    assert (tmp_path / "config.json").exists()


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-checkpoint",))


def test_malicious_pickle_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pickle that would run code on load is refused with a clear message, and the code never runs."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": _RunsCode(), "config": {}}, f)
    with pytest.raises(CheckpointError, match="Refused to load"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_truncated_checkpoint_is_refused(tmp_path: Path, images: torch.Tensor) -> None:
    """A truncated file gives one sentence, not a traceback from the zip reader."""
    pretrain(tiny_config(epochs=1), tmp_path, train_images=images, progress=False)
    data = (tmp_path / "checkpoint.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")


def test_checkpoint_for_other_architecture_is_refused(tmp_path: Path, images: torch.Tensor) -> None:
    """Weights that do not fit the architecture named in the config are refused, naming it."""
    pretrain(tiny_config(epochs=1), tmp_path, train_images=images, progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    state["config"]["network"]["convnet_width"] = 8
    with pytest.raises(CheckpointError, match="do not fit a convnet network"):
        load_networks(state)


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path: Path) -> None:
    """If writing fails half-way, the previous checkpoint is untouched and no temporary file is left."""
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "config": tiny_config().to_dict(), "epoch": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "bad": Unpicklable()})
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"batch_size": 0}, "batch size must be at least 2"),
        ({"tau_base": 1.5}, r"tau must be in \[0, 1\]"),
        ({"precision": "fp8"}, "precision must be"),
    ],
)
def test_bad_train_config_is_one_sentence(changes: dict, message: str) -> None:
    """Bad settings are refused when the config is built, with what is wrong."""
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_batch_larger_than_dataset(tmp_path: Path, images: torch.Tensor) -> None:
    """A batch larger than the dataset says so and what to use instead."""
    with pytest.raises(ValueError, match="larger than the dataset"):
        pretrain(tiny_config(batch_size=64), tmp_path, train_images=images, progress=False)


def test_loop_tau_schedule_spans_the_whole_run(tmp_path: Path, images: torch.Tensor) -> None:
    """The loop's τ rises from τ_base to ~1 over the *whole* run (solo-learn #248 shipped a wrong max_steps)."""
    from byol_course.ema import tau_schedule

    cfg = tiny_config(epochs=3, tau_base=0.9)
    _, history = pretrain(cfg, tmp_path, train_images=images, progress=False)
    total = 3 * (48 // 16)
    taus = [h["tau"] for h in history]  # τ of each epoch's last step
    assert taus == sorted(taus)
    assert taus[-1] == pytest.approx(tau_schedule(total - 1, total, 0.9))
    assert taus[-1] > 0.99 and taus[0] < 0.97


def test_adam_with_lars_learning_rate_warns() -> None:
    """AdamW at LARS's learning rate (0.2) warns: it collapsed BYOL in byol-pytorch #44."""
    from byol_course.networks import BYOLNetworks
    from byol_course.optim import build_optimizer

    net = BYOLNetworks(NetworkConfig(arch="convnet", hidden_dim=16, proj_dim=8, convnet_width=4))
    with pytest.warns(UserWarning, match="byol-pytorch #44"):
        build_optimizer(net, OptimConfig(name="adamw", base_lr=0.2, scale_lr_by_batch=False), 256)


def test_ctrl_c_in_a_notebook_says_how_to_resume(tmp_path: Path, images: torch.Tensor) -> None:
    """Ctrl-C inside pretrain (as in a notebook) keeps the last epoch's checkpoint and says how to resume."""
    cfg = tiny_config(epochs=3)

    def interrupt_after_first_epoch(record: dict) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match=r"epoch 1 is saved in .*checkpoint\.pt; call pretrain\(\.\.\., resume=True\)"):
        pretrain(cfg, tmp_path, train_images=images, progress=False, on_epoch_end=interrupt_after_first_epoch)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    net, history = pretrain(cfg, tmp_path, train_images=images, progress=False, resume=True)
    assert [h["epoch"] for h in history] == [1, 2, 3]


# --- chapter 5: "your step trains your network" ------------------------------------------------------


def _paper_order_step(net, optimizer, images, views, tau):
    """Chapter 5's solution as a student writes it, from the earlier chapters' pieces (no Precision, no DDP wrapper)."""
    from byol_course.exercises import reference_train_step

    return reference_train_step(net, optimizer, images, views, tau)


def test_a_students_step_trains_the_same_run(tmp_path: Path, images: torch.Tensor) -> None:
    """pretrain(step=…) trains with the student's step; a right one gives the package's run bit for bit on CPU."""
    cfg = tiny_config(epochs=2)
    package, hist_package = pretrain(cfg, tmp_path / "package", train_images=images, progress=False)
    mine, hist_mine = pretrain(cfg, tmp_path / "mine", train_images=images, progress=False, step=_paper_order_step)
    _assert_same_state(package.state_dict(), mine.state_dict())
    assert not any("trained_by" in h for h in hist_package)  # the package's step: the records keep their schema
    assert [h["trained_by"] for h in hist_mine] == ["_paper_order_step"] * 2
    assert load_checkpoint(tmp_path / "mine" / "checkpoint.pt")["history"][-1]["trained_by"] == "_paper_order_step"


def test_a_students_step_is_really_the_one_that_trains(tmp_path: Path, images: torch.Tensor) -> None:
    """A step that skips the EMA leaves the target at its initial weights: the loop does call it."""
    def no_ema(net, optimizer, images, views, tau):
        return _paper_order_step(net, optimizer, images, views, 1.0)

    cfg = tiny_config(epochs=1)
    torch.manual_seed(cfg.train.seed)
    from byol_course.networks import BYOLNetworks

    init = BYOLNetworks(cfg.network)
    net, _ = pretrain(cfg, tmp_path, train_images=images, progress=False, step=no_ema)
    assert all(torch.equal(a, b) for a, b in zip(net.target_parameters(), init.target_parameters()))


@pytest.mark.parametrize("change, phrase", [
    ({"precision": "bf16"}, "mixed precision"),
    ({"stop_gradient": False}, "no-stop-gradient"),
])
def test_a_students_step_refuses_what_it_cannot_do(tmp_path: Path, images: torch.Tensor, change, phrase) -> None:
    with pytest.raises(ValueError, match=phrase) as err:
        pretrain(tiny_config(epochs=1, **change), tmp_path, train_images=images, progress=False, step=_paper_order_step)
    assert "drop step=" in str(err.value)


def test_a_step_that_returns_no_loss_is_told_what_to_return(tmp_path: Path, images: torch.Tensor) -> None:
    def forgets_to_return(net, optimizer, images, views, tau):
        _paper_order_step(net, optimizer, images, views, tau)

    with pytest.raises(TypeError, match=r"forgets_to_return returned NoneType; a step returns the loss as a 0-d tensor"):
        pretrain(tiny_config(epochs=1), tmp_path, train_images=images, progress=False, step=forgets_to_return)


def test_a_students_step_under_auto_precision_trains_in_fp32(tmp_path: Path, images: torch.Tensor, monkeypatch) -> None:
    """On a CPU with native bf16, "auto" would autocast; with a step of one's own it means fp32, not an error."""
    import byol_course.device as device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert device.autocast_dtype(torch.device("cpu"), "auto") is torch.bfloat16  # the package's own step would autocast
    cfg = tiny_config(epochs=1, precision="auto")
    fp32, _ = pretrain(tiny_config(epochs=1, precision="fp32"), tmp_path / "fp32", train_images=images, progress=False)
    mine, hist = pretrain(cfg, tmp_path / "mine", train_images=images, progress=False, step=_paper_order_step)
    _assert_same_state(fp32.state_dict(), mine.state_dict())
    assert hist[-1]["trained_by"] == "_paper_order_step"
