"""Multi-process training on CPU (gloo, 2 ranks): DDP with SyncBatchNorm matches one process, ranks agree, resume is exact.

The comparison is meaningful because both runs see the same views of the same images: the
one-process reference augments each global batch as two ranks would (`simulate_ranks=2`:
slice r with rank r's generator), and SyncBatchNorm gives the two ranks the statistics of
the whole batch, as one process has. What remains is float rounding (sums in another order).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from byol_course import distributed
from byol_course.augment import AugmentConfig, make_views
from byol_course.networks import BYOLNetworks, NetworkConfig
from byol_course.checkpoint import load_checkpoint
from byol_course.train import pretrain

from _tiny import tiny_config  # tests/_tiny.py

pytestmark = pytest.mark.usefixtures("one_thread")

EPOCHS = 3  # 48 images, global batch 16: 3 steps an epoch, 9 in all
# Measured 2026-11-30 (torch 2.14.1, 2-core Xeon): largest |Δ| over all weights and buffers
# 2.4e-7 after these 9 steps (3.6e-7 after 12), epoch losses equal to 6–7 significant digits.
# The bound leaves 40× room; a run with other views differs by more than 1e-2 (the control below).
TOLERANCE = 1e-5


def _images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8, generator=g)


def _rank(rank: int, world: int, folder: Path) -> None:
    """One rank (started by mp.spawn): a full run, and a run stopped after 1 epoch then resumed."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    try:
        cfg = tiny_config(epochs=EPOCHS)
        full, hist_full = pretrain(cfg, folder / "full", train_images=_images(), progress=False)
        pretrain(cfg, folder / "split", train_images=_images(), progress=False, stop_after_epochs=1)
        after_stop = load_checkpoint(folder / "split" / "checkpoint.pt")["epoch"]
        resumed, hist_resumed = pretrain(cfg, folder / "split", train_images=_images(), progress=False, resume=True)
        sync_bns = sum(isinstance(m, distributed.CPUSyncBatchNorm) for m in full.modules())
        torch.save(
            {
                "full": full.state_dict(),
                "resumed": resumed.state_dict(),
                "hist_full": hist_full,
                "hist_resumed": hist_resumed,
                "after_stop": after_stop,
                "sync_bns": sync_bns,
            },
            folder / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Run the two ranks once for the whole module (about 15 s on 2 cores, mostly imports)."""
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_rank, args=(2, folder), nprocs=2, join=True)
    return folder, [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(2)]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point())


def test_two_ranks_match_one_process_of_the_same_global_batch(tmp_path: Path, two_ranks) -> None:
    """2 ranks × 8 images with SyncBatchNorm ≈ 1 process × 16 images with the same views, within TOLERANCE."""
    _, (rank0, _) = two_ranks
    cfg = tiny_config(epochs=EPOCHS)
    ref, hist = pretrain(cfg, tmp_path / "one", train_images=_images(), progress=False, simulate_ranks=2)
    assert rank0["sync_bns"] == 11  # encoder 4 + projector 1 + predictor 1, target 4 + 1
    assert _max_diff(ref.state_dict(), rank0["full"]) < TOLERANCE
    assert [h["loss"] for h in hist] == pytest.approx([h["loss"] for h in rank0["hist_full"]], rel=1e-5)
    # the control: a one-process run with its own single augmentation stream is far away
    other, _ = pretrain(cfg, tmp_path / "own-views", train_images=_images(), progress=False)
    assert _max_diff(other.state_dict(), rank0["full"]) > 1000 * TOLERANCE


def test_ranks_hold_identical_online_and_target_networks(two_ranks) -> None:
    """Every weight and buffer, the EMA target's included, is bit-identical on both ranks."""
    _, (rank0, rank1) = two_ranks
    for run in ("full", "resumed"):
        assert rank0[run].keys() == rank1[run].keys()
        for k in rank0[run]:
            assert torch.equal(rank0[run][k], rank1[run][k]), f"{run}: {k} differs between the ranks"


def test_resumed_distributed_run_equals_uninterrupted_run(two_ranks) -> None:
    """1 epoch + checkpoint + resume + 2 epochs == 3 epochs, bit for bit, with 2 ranks."""
    folder, (rank0, _) = two_ranks
    assert rank0["after_stop"] == 1
    for k in rank0["full"]:
        assert torch.equal(rank0["full"][k], rank0["resumed"][k]), f"{k} differs after resuming"
    assert [h["loss"] for h in rank0["hist_full"]] == [h["loss"] for h in rank0["hist_resumed"]]
    a, b = load_checkpoint(folder / "full" / "checkpoint.pt"), load_checkpoint(folder / "split" / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == EPOCHS and a["world_size"] == 2
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])


def test_config_states_global_batch_and_lr_rule(two_ranks) -> None:
    """config.json (written by rank 0 only) states the world size, the global batch and the scaled lr."""
    folder, _ = two_ranks
    record = json.loads((folder / "full" / "config.json").read_text())["distributed"]
    assert record["world_size"] == 2 and record["backend"] == "gloo"
    assert record["global_batch"] == 16 and record["per_rank_batch"] == 8
    assert record["peak_lr"] == pytest.approx(0.5 * 16 / 256)
    assert "base_lr × global_batch / 256" in record["lr_rule"]
    assert sorted(p.name for p in (folder / "full").iterdir()) == ["checkpoint.pt", "config.json"]


# --- pieces, on one process -----------------------------------------------------------------


def test_sharded_views_are_each_slice_augmented_with_its_rank_generator() -> None:
    """The simulated ranks' views are exactly the views each rank makes of its own slice."""
    images, aug = _images()[:8], AugmentConfig(image_size=16)
    gens = [torch.Generator().manual_seed(distributed.rank_seed(0, 3, r)) for r in range(2)]
    x1, x2 = distributed.sharded_views(images, aug, gens)
    for r in range(2):
        y1, y2 = make_views(images[4 * r : 4 * (r + 1)], aug, torch.Generator().manual_seed(distributed.rank_seed(0, 3, r)))
        assert torch.equal(x1[4 * r : 4 * (r + 1)], y1) and torch.equal(x2[4 * r : 4 * (r + 1)], y2)
    seeds = {distributed.rank_seed(s, e, r) for s in range(3) for e in range(3) for r in range(3)}
    assert len(seeds) == 27  # every (seed, epoch, rank) has its own stream


def test_cpu_sync_batchnorm_is_batchnorm_without_process_group() -> None:
    """Converted networks keep their parameters (the same objects), the target's momentum 0, and outputs."""
    torch.manual_seed(0)
    net = BYOLNetworks(NetworkConfig(arch="convnet", hidden_dim=16, proj_dim=8, convnet_width=4))
    x = torch.randn(6, 3, 16, 16)
    before = net.online(x)
    params = list(net.parameters())
    distributed.convert_sync_batchnorm(net)
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert all(m.momentum == 0.0 for m in net.target_backbone.modules() if isinstance(m, distributed.CPUSyncBatchNorm))
    assert torch.allclose(net.online(x), before, atol=1e-6)


def test_global_batch_that_does_not_split_is_one_sentence(tmp_path: Path) -> None:
    """A global batch that 2 ranks cannot share evenly is refused before any work, naming a batch that works."""
    with pytest.raises(ValueError, match=r"must split evenly into 2 ranks.*--batch-size 16"):
        pretrain(tiny_config(batch_size=15), tmp_path, train_images=_images(), progress=False, simulate_ranks=2)
