"""One full BYOL training step, in images per second: this package against lightly and byol-pytorch.

A step is everything a training loop does per batch: make both augmented views, the online
forward and backward, the target forward, the optimiser step and the EMA update. Each
implementation runs the way its own example runs it, on the same backbone (the package's
network for --arch, a fresh copy for each), the same batch size, image size and device:

* ours: uint8 images on the device, per-sample batched views (byol_course.augment), the
  package's train_step with its defaults (LARS, channels_last, autocast where it pays; for
  the ResNet-18, gpu_config's optimiser: LARS η 0.02 with clipping);
* lightly: its BYOL example (examples/pytorch/byol.py) — BYOLTransform on PIL images in
  a DataLoader with --workers worker processes (default: the machine's CPU count; a comma
  list such as 2,16 runs it once per count, as "lightly (2 workers)" etc.), its
  BYOLProjectionHead / BYOLPredictionHead, NegativeCosineSimilarity, update_momentum, SGD;
* byol-pytorch: BYOL(net, ...) with the paper's heads (4096 → 256) and τ 0.99,
  use_simplicial_embeddings=False (on by default in recent versions), its default batch-level
  augmentation on float images already on the device, Adam 3e-4 as in its README.

All three get the same heads (default: the paper's, hidden 4096, output 256) and backbone, so they do the same arithmetic.
The three run in one process, alternating (the order rotates each repeat), each repeat
after its own warm-up steps; the table shows the median over repeats. Peak memory comes
from one short child process per implementation (RSS of the main process and of its
largest DataLoader worker on CPU; torch.cuda.max_memory_allocated on GPU).

    python benchmarks/bench_step.py                       # CPU: ConvNet, 32×32, batch 256
    python benchmarks/bench_step.py --device cuda         # GPU: ResNet-18 (CIFAR form), batch 512
    python benchmarks/bench_step.py --peers none --tiny   # seconds; what the tests run

Peers are imported from the running interpreter: `make bench` runs this in benchmarks/.venv,
which has lightly and byol-pytorch and sees the course's own environment. A peer that is not
installed is skipped with a note (--peers auto, the default) or is an error (--peers all).
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import inspect
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from byol_course.augment import AugmentConfig
from byol_course.networks import BYOLNetworks, NetworkConfig, build_backbone
from byol_course.ema import tau_schedule
from byol_course.config import gpu_config
from byol_course.device import Precision, resolve_device
from byol_course.optim import OptimConfig, build_optimizer
from byol_course.train import Views, train_step

ROOT = Path(__file__).resolve().parents[1]
SHARED_ZIP = ROOT.parent / "shared" / "data" / "cifar10-jpg-train.zip"
PEERS = ("lightly", "byol-pytorch")
HIDDEN, PROJ = 4096, 256  # the paper's heads (default for all three; --hidden changes it for all)


# --- data ----------------------------------------------------------------------------------


def load_images(source: str, n: int, size: int = 32) -> tuple[np.ndarray, str]:
    """(n, size, size, 3) uint8 images: real CIFAR-10 JPEGs from a zip (every k-th file), else embedded."""
    path = Path(source).expanduser() if source not in ("auto", "embedded") else SHARED_ZIP
    if source != "embedded" and path.is_file():
        from PIL import Image

        with zipfile.ZipFile(path) as zf:
            names = sorted(m for m in zf.namelist() if m.lower().endswith((".jpg", ".jpeg", ".png")))
            picked = names[:: max(1, len(names) // n)][:n]  # spread over all classes
            out = np.empty((len(picked), size, size, 3), dtype=np.uint8)
            for i, name in enumerate(picked):
                with Image.open(io.BytesIO(zf.read(name))) as im:
                    out[i] = np.asarray(im.convert("RGB").resize((size, size)))
        return out, f"CIFAR-10 JPEGs ({path.name}, {len(out)} images)"
    if source not in ("auto", "embedded"):
        raise SystemExit(f"--data {source}: no such zip file; pass the CIFAR-10 JPEG zip, 'auto' or 'embedded'.")
    from byol_course.embedded import generate

    images, _ = generate(n, seed=0)
    return images.permute(0, 2, 3, 1).numpy().copy(), f"embedded (generated, {n} images)"


# --- the three implementations ---------------------------------------------------------------


class Runner:
    """One implementation: `start()` before a repeat, `step()` per batch, `stop()` after it."""

    name: str
    note: str

    def start(self) -> None: ...

    def step(self) -> None: ...

    def stop(self) -> None: ...


class Ours(Runner):
    name, note = "byol_course", "uint8 on device, per-sample batched views, LARS"

    def __init__(self, images: np.ndarray, args: argparse.Namespace, device: torch.device) -> None:
        self.device, self.bs = device, args.batch_size
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)  # (N, 3, H, W) uint8
        self.aug = AugmentConfig(image_size=args.image_size, blur=False)  # CIFAR recipes drop blur (lightly too)
        self.net = BYOLNetworks(NetworkConfig(arch=args.arch, hidden_dim=args.hidden, proj_dim=PROJ, convnet_width=args.width)).to(device)
        self.net = self.net.to(memory_format=torch.channels_last)
        optim = gpu_config().optim if args.arch == "resnet18" else OptimConfig()  # the GPU recipe's LARS for its network
        self.opt = build_optimizer(self.net, optim, self.bs)
        self.precision = Precision(device, "auto")
        self.gen = torch.Generator(device=device).manual_seed(0)
        self.views = Views(self.aug, [self.gen], channels_last=True)
        self.k = 0
        self.note += f", autocast {self.precision.name if self.precision.dtype else 'off (fp32)'}, channels_last"

    def step(self) -> None:
        idx = torch.randint(self.images.shape[0], (self.bs,), device=self.device, generator=self.gen)
        tau = tau_schedule(self.k, 10_000, 0.99)
        train_step(self.net, self.opt, self.images[idx], self.views, tau, precision=self.precision)
        self.k += 1


class Lightly(Runner):
    name = "lightly"

    def __init__(self, images: np.ndarray, args: argparse.Namespace, device: torch.device, workers: int | None = None) -> None:
        workers = args.workers[0] if workers is None else workers
        if len(args.workers) > 1:
            self.name = f"lightly ({workers} workers)"
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad, update_momentum
        from lightly.transforms.byol_transform import BYOLTransform, BYOLView1Transform, BYOLView2Transform
        from lightly.utils.scheduler import cosine_schedule
        from PIL import Image

        self.device, self.update_momentum, self.cosine_schedule = device, update_momentum, cosine_schedule
        backbone = build_backbone(NetworkConfig(arch=args.arch, convnet_width=args.width))

        class BYOL(nn.Module):  # lightly's example model, with the paper's head widths
            def __init__(self) -> None:
                super().__init__()
                self.backbone = backbone
                self.projection_head = BYOLProjectionHead(backbone.out_dim, args.hidden, PROJ)
                self.prediction_head = BYOLPredictionHead(PROJ, args.hidden, PROJ)
                self.backbone_momentum = copy.deepcopy(self.backbone)
                self.projection_head_momentum = copy.deepcopy(self.projection_head)
                deactivate_requires_grad(self.backbone_momentum)
                deactivate_requires_grad(self.projection_head_momentum)

            def forward(self, x):
                return self.prediction_head(self.projection_head(self.backbone(x).flatten(start_dim=1)))

            def forward_momentum(self, x):
                return self.projection_head_momentum(self.backbone_momentum(x).flatten(start_dim=1)).detach()

        # the example's CIFAR-10 transform: BYOL views at 32×32 without blur
        transform = BYOLTransform(
            view_1_transform=BYOLView1Transform(input_size=args.image_size, gaussian_blur=0.0),
            view_2_transform=BYOLView2Transform(input_size=args.image_size, gaussian_blur=0.0),
        )

        class PILDataset(torch.utils.data.Dataset):  # what torchvision's CIFAR10 does: array -> PIL -> transform
            def __len__(self) -> int:
                return len(images)

            def __getitem__(self, i: int):
                return transform(Image.fromarray(images[i])), 0

        self.model = BYOL().to(device)
        self.criterion = NegativeCosineSimilarity()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.06)
        self.loader = torch.utils.data.DataLoader(
            PILDataset(), batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=workers
        )
        self.it = None
        self.k = 0
        self.note = f"BYOLTransform on PIL, DataLoader with {workers} workers, SGD"

    def start(self) -> None:
        self.it = iter(self.loader)  # fresh workers each repeat: nothing prefetched while the others ran

    def step(self) -> None:
        try:
            (x0, x1), _ = next(self.it)
        except StopIteration:  # a small image set (the device's subset zip): start another epoch of the loader
            self.it = iter(self.loader)
            (x0, x1), _ = next(self.it)
        m = self.cosine_schedule(self.k, 10_000, 0.99, 1.0)
        self.update_momentum(self.model.backbone, self.model.backbone_momentum, m=m)
        self.update_momentum(self.model.projection_head, self.model.projection_head_momentum, m=m)
        x0, x1 = x0.to(self.device), x1.to(self.device)
        p0, z0 = self.model(x0), self.model.forward_momentum(x0)
        p1, z1 = self.model(x1), self.model.forward_momentum(x1)
        loss = 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        self.k += 1

    def stop(self) -> None:
        self.it = None  # shuts the workers down


class ByolPytorch(Runner):
    name = "byol-pytorch"

    def __init__(self, images: np.ndarray, args: argparse.Namespace, device: torch.device) -> None:
        from byol_pytorch import BYOL

        self.device, self.bs = device, args.batch_size
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
        kwargs: dict[str, Any] = dict(
            image_size=args.image_size, hidden_layer=-1, projection_size=PROJ, projection_hidden_size=args.hidden,
            moving_average_decay=0.99, use_momentum=True,
        )
        if "use_simplicial_embeddings" in inspect.signature(BYOL.__init__).parameters:
            kwargs["use_simplicial_embeddings"] = False  # a newer trick, on by default: not paper BYOL
        self.learner = BYOL(build_backbone(NetworkConfig(arch=args.arch, convnet_width=args.width)).to(device), **kwargs).to(device)
        self.opt = torch.optim.Adam(self.learner.parameters(), lr=3e-4)
        self.gen = torch.Generator(device=device).manual_seed(0)
        self.note = "its default batch-level augmentation on float images on the device, Adam"

    def step(self) -> None:
        idx = torch.randint(self.images.shape[0], (self.bs,), device=self.device, generator=self.gen)
        loss = self.learner(self.images[idx].float().div_(255))  # its README feeds float images in [0, 1]
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.learner.update_moving_average()


RUNNERS: dict[str, Callable[..., Runner]] = {"byol_course": Ours, "lightly": Lightly, "byol-pytorch": ByolPytorch}


def make_runners(name: str, images: np.ndarray, args: argparse.Namespace, device: torch.device) -> list[Runner]:
    """The runners of one implementation: lightly once per DataLoader worker count, the others once."""
    if name == "lightly":
        return [Lightly(images, args, device, workers=w) for w in args.workers]
    return [RUNNERS[name](images, args, device)]
MODULES = {"lightly": "lightly", "byol-pytorch": "byol_pytorch"}


def available_peers(wanted: str) -> tuple[list[str], dict[str, str]]:
    """The peers to run and, for each one skipped, why."""
    names = [] if wanted == "none" else list(PEERS) if wanted in ("auto", "all") else wanted.split(",")
    run, skipped = [], {}
    for name in names:
        if name not in MODULES:
            raise SystemExit(f"--peers: unknown peer {name!r}; use auto, all, none or a comma list of {', '.join(PEERS)}.")
        try:
            __import__(MODULES[name])
            run.append(name)
        except ImportError as e:
            if wanted != "auto":
                raise SystemExit(
                    f"{name} is not installed in {sys.executable} ({e}); run `make bench` (it installs the peers into "
                    "benchmarks/.venv) or pass --peers auto to skip missing ones."
                ) from None
            skipped[name] = f"not installed in this interpreter ({type(e).__name__})"
    return run, skipped


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(runners: list[Runner], args: argparse.Namespace, device: torch.device) -> dict[str, dict[str, Any]]:
    """Alternate the runners for args.repeats rounds; images/s per repeat, and peak GPU memory."""
    rates: dict[str, list[float]] = {r.name: [] for r in runners}
    gpu_peak: dict[str, int] = {r.name: 0 for r in runners}
    for rep in range(args.repeats):
        order = runners[rep % len(runners) :] + runners[: rep % len(runners)]  # rotate: no one always goes first
        for r in order:
            r.start()
            for _ in range(args.warmup):
                r.step()
            sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                r.step()
            sync(device)
            dt = time.perf_counter() - t0
            sample_rss()  # before stop(): the workers are still alive
            r.stop()
            rates[r.name].append(args.steps * args.batch_size / dt)
            if device.type == "cuda":
                gpu_peak[r.name] = max(gpu_peak[r.name], torch.cuda.max_memory_allocated(device))
            print(f"  repeat {rep + 1}/{args.repeats} {r.name:<13} {rates[r.name][-1]:8.0f} images/s", flush=True)
    out = {}
    for r in runners:
        out[r.name] = {
            "images_per_s": statistics.median(rates[r.name]),
            "images_per_s_repeats": rates[r.name],
            "note": r.note,
        }
        if device.type == "cuda":
            out[r.name]["max_memory_allocated_mib"] = gpu_peak[r.name] / 2**20
    return out


def peak_rss_in_child(name: str, argv: list[str]) -> dict[str, float] | None:
    """Run one implementation alone in a child process; its peak RSS (main, largest worker) in MiB."""
    cmd = [sys.executable, __file__, *argv, "--only", name, "--repeats", "1", "--no-memory", "--json", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  peak-memory run of {name} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    last = done.stdout.strip().splitlines()[-1]
    return json.loads(last)["self_rss"]


def _hwm_mib(pid: int | str = "self") -> float:
    """Peak RSS (VmHWM) of a process in MiB. Not ru_maxrss: Linux carries that across exec from the parent."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kib = 1024 if sys.platform == "darwin" else 1  # no /proc (macOS): fall back to ru_maxrss (bytes there)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib / 1024 if pid == "self" else 0.0


def _children() -> list[int]:
    try:
        return [int(c) for t in Path("/proc/self/task").iterdir() for c in (t / "children").read_text().split()]
    except OSError:
        return []


_PEAK = {"main_mib": 0.0, "largest_worker_mib": 0.0}


def sample_rss() -> None:
    """Record the peak RSS of this process and of its largest child (a DataLoader worker) so far."""
    _PEAK["main_mib"] = max(_PEAK["main_mib"], _hwm_mib())
    _PEAK["largest_worker_mib"] = max([_PEAK["largest_worker_mib"], *(_hwm_mib(c) for c in _children())])


def own_rss() -> dict[str, float]:
    """Peak RSS of this process and of its largest DataLoader worker, in MiB (a worker's counts pages it shares with the main process)."""
    sample_rss()
    return dict(_PEAK)


def time_to_accuracy(path: str) -> dict[str, Any] | None:
    """From a demo run's metrics.json: training wall time until the run's kNN accuracy was reached.

    kNN is measured after every epoch when the run had knn_every = 1 (the first epoch at or
    above the final accuracy counts); otherwise only at the end, and the whole pretraining
    time is the answer (an upper bound).
    """
    p = Path(path)
    if not p.is_file():
        return None
    m = json.loads(p.read_text())
    final = m.get("knn_top1")
    hist = [h for h in m.get("history", []) if h.get("knn_top1") is not None]
    first = next((h for h in hist if h["knn_top1"] >= final), None) if final is not None else None
    return {
        "source": str(p),
        "dataset": m.get("dataset"), "arch": m.get("arch"), "epochs": m.get("epochs"), "hardware": m.get("hardware"),
        "date": m.get("date"), "knn_top1": final,
        "seconds_to_knn": first["wall_seconds"] if first and len(hist) > 1 else m.get("pretrain_seconds"),
        "epoch_reached": first["epoch"] if first and len(hist) > 1 else m.get("epochs"),
        "kNN_measured_every_epoch": len(hist) > 1,
        "whole_command_seconds": m.get("wall_seconds"),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    p.add_argument("--arch", default=None, help="convnet (CPU default) | resnet18 (GPU default)")
    p.add_argument("--batch-size", type=int, default=None, help="default 256 on CPU, 512 on GPU")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=32, help="ConvNet width (32: the package default; 16: the classroom recipe)")
    p.add_argument("--hidden", type=int, default=HIDDEN, help="head hidden width for all three (4096: paper; 512: classroom)")
    p.add_argument("--workers", default=str(os.cpu_count() or 1),
                   help="lightly's DataLoader workers (default: CPU count); a comma list (2,16) runs lightly once per count")
    p.add_argument("--peers", default="auto", help="auto (those installed) | all (error if missing) | none | lightly,byol-pytorch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3, help="steps before each timed block")
    p.add_argument("--steps", type=int, default=8, help="timed steps per repeat")
    p.add_argument("--n-images", type=int, default=10_240, help="images decoded for the run")
    p.add_argument("--data", default="auto", help="CIFAR-10 JPEG zip (default ../shared/data/...), or 'embedded'")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--tiny", action="store_true", help="a seconds-long run: batch 16, 1 repeat, 2 steps (for tests)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    p.add_argument("--tta-from", default=str(ROOT / "runs" / "demo" / "metrics.json"),
                   help="a demo run's metrics.json for time-to-accuracy (make demo writes it)")
    p.add_argument("--memory-only", action="store_true", help="only the peak-memory runs; merged into an existing --json")
    p.add_argument("--only", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="write the results here ('-' prints one JSON line)")
    args = p.parse_args(argv)
    try:
        args.workers = [int(w) for w in str(args.workers).split(",")]
    except ValueError:
        p.error(f"--workers: a number or a comma list of numbers, got {args.workers!r}")
    if args.tiny:
        args.batch_size = args.batch_size or 16
        args.repeats, args.warmup, args.steps, args.n_images = 1, 1, 2, min(args.n_images, 128)
        args.workers = [min(w, 2) for w in args.workers]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None  # 1, 5, 15 min: was the machine shared?
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    args.arch = args.arch or ("resnet18" if device.type == "cuda" else "convnet")
    args.batch_size = args.batch_size or (512 if device.type == "cuda" else 256)
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    quiet = args.json == "-"
    if args.only:
        names, skipped = [args.only], {}
    else:
        peers, skipped = available_peers(args.peers)
        names = ["byol_course", *peers]
    if args.memory_only:
        keep = [a for i, a in enumerate(argv) if a not in ("--memory-only", "--json") and not (i and argv[i - 1] == "--json")]
        report = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).is_file() else {"results": {}}
        for name in names:
            rss = peak_rss_in_child(name, keep)
            print(f"{name}: peak RSS {rss}")
            report["results"].setdefault(name, {})["peak_rss_mib"] = rss
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        return report
    images, data_note = load_images(args.data, args.n_images, args.image_size)
    if not quiet:
        print(f"{data_note}; {args.arch}, batch {args.batch_size}, {args.image_size}×{args.image_size}, {device}; "
              f"{args.repeats} repeats × ({args.warmup} warm-up + {args.steps} timed steps)")
        for name, why in skipped.items():
            print(f"  skipping {name}: {why}")
    runners = []
    for n in names:
        try:
            runners += make_runners(n, images, args, device)
        except Exception as e:  # noqa: BLE001 — a peer that cannot be set up (a missing dependency): skip it, say why
            if n == "byol_course" or args.peers not in ("auto", "none"):
                raise
            skipped[n] = f"could not be set up ({type(e).__name__}: {e})"
            print(f"  skipping {n}: {skipped[n]}")
    if quiet:
        sys.stdout = open(os.devnull, "w")  # the child prints one JSON line, nothing else
    results = measure(runners, args, device)
    if quiet:
        sys.stdout = sys.__stdout__
        print(json.dumps({"results": results, "self_rss": own_rss()}))
        return results
    if device.type == "cpu" and not args.no_memory:
        keep = [a for a in argv if a not in ("--no-memory",)]
        keep = [a for i, a in enumerate(keep) if not (a == "--json" or (i and keep[i - 1] == "--json"))]
        for name in names:
            rss = peak_rss_in_child(name, keep)
            if rss:
                results[name]["peak_rss_mib"] = rss
    report = {
        "date": date.today().isoformat(),
        "command": "python benchmarks/bench_step.py " + " ".join(argv),
        "hardware": hardware(device),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "torchvision": version("torchvision"),
                     "byol-course": version("byol-course"), "lightly": version("lightly"), "byol-pytorch": version("byol-pytorch")},
        "setup": {"device": str(device), "arch": args.arch, "batch_size": args.batch_size, "image_size": args.image_size,
                  "heads": f"{args.hidden} hidden, {PROJ} out", "convnet_width": args.width, "lightly_workers": args.workers, "repeats": args.repeats,
                  "warmup_steps": args.warmup, "timed_steps": args.steps, "data": data_note},
        "results": results,
        "skipped": skipped,
        "time_to_accuracy": time_to_accuracy(args.tta_from),
        "ratios_ours_over": {n: results["byol_course"]["images_per_s"] / results[n]["images_per_s"] for n in results if n != "byol_course"},
        # the ratio within each repeat (the implementations ran back to back), then its median: steadier under changing load
        "ratios_ours_over_per_repeat": {
            n: [a / b for a, b in zip(results["byol_course"]["images_per_s_repeats"], results[n]["images_per_s_repeats"])]
            for n in results if n != "byol_course"
        },
    }
    report["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(table(report))
    for n, r in report["ratios_ours_over_per_repeat"].items():
        print(f"ours / {n} per repeat: {', '.join(f'{x:.2f}' for x in r)} (median {statistics.median(r):.2f})")
    tta = report["time_to_accuracy"]
    if tta:
        print(f"time to accuracy ({tta['source']}): {tta['dataset']}, {tta['arch']}, kNN {tta['knn_top1']:.1%} after "
              f"{tta['seconds_to_knn']:.0f} s of pretraining (epoch {tta['epoch_reached']}/{tta['epochs']}, {tta['hardware']}, {tta['date']})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from byol_course.device import hardware as cpu

    return cpu()


def table(report: dict[str, Any]) -> str:
    """The comparison as a Markdown table."""
    res, mem_key = report["results"], "max_memory_allocated_mib" if "cuda" in report["setup"]["device"] else "peak_rss_mib"
    lines = [
        "| implementation | images/s (median) | ours / this | peak memory (MiB) | how it runs |",
        "|---|---|---|---|---|",
    ]
    ours = res["byol_course"]["images_per_s"]
    for name, r in res.items():
        mem = r.get(mem_key)
        mem_s = "" if mem is None else (f"{mem:.0f}" if isinstance(mem, (int, float)) else
                                        f"{mem['main_mib']:.0f}" + (f" main, {mem['largest_worker_mib']:.0f} largest worker"
                                                                     if mem["largest_worker_mib"] else ""))
        lines.append(f"| {name} | {r['images_per_s']:.0f} | {ours / r['images_per_s']:.2f}× | {mem_s} | {r['note']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
