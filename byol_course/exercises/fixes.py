"""Chapter 6's fixes, in the sketch's own idiom: torchvision pipelines per image, a test for the loss, the epoch loop.

    check_per_image_views(fn) fn(images, pipeline1, pipeline2) -> (view1, view2): the sketch's
                             torchvision pipelines applied per image, one pipeline per view
    check_loss_test(fn)      fn(loss_fn) -> bool: a test that passes every right symmetric loss
                             and fails the sketch's and the other wrong ones
    check_train_epoch(fn)    fn(step, loader, epoch, epochs, tau_base) -> float: the sketch's epoch
                             loop with τ from the run's global step and the epoch's mean loss per image
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..ema import tau_schedule
from .common import Malformed, Raised, Right, call, checker, describe, referenced_names

__all__ = ["check_per_image_views", "check_loss_test", "check_train_epoch", "reference_per_image_views",
           "reference_train_epoch", "RIGHT_LOSSES", "WRONG_LOSSES"]


# --- per-image views ----------------------------------------------------------------------------------

class _Counted:
    """A pipeline that counts its calls, applying `transform` to whatever it is given."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.transform, self.calls, self.batched = transform, 0, False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.batched |= isinstance(x, torch.Tensor) and x.dim() == 4 and len(x) > 1  # (1, 3, H, W) is one image
        return self.transform(x)


def _crop(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A random crop of one image (or, wrongly called on a batch, one crop for all of it), drawn from torch's RNG."""

    def crop(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        i = int(torch.randint(h - size + 1, ()))
        j = int(torch.randint(w - size + 1, ()))
        return x[..., i:i + size, j:j + size]

    return crop


_VIEW_CASES = ((4, 12, 8), (6, 10, 6), (3, 16, 12))  # (B, H, S) per variant


@checker("per-image views")
def check_per_image_views(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]], variant: int = 0) -> str | None:
    """fn(images, pipeline1, pipeline2) -> (view1, view2): each image through each pipeline once, stacked in order."""
    b, h, s = _VIEW_CASES[variant % len(_VIEW_CASES)]
    torch.manual_seed(100 + variant)
    images = torch.rand(b, 3, h, h)
    # 1. Which pipeline makes which view, and in which order: two fixed, different pipelines.
    p1 = _Counted(lambda x: 2 * x[..., :s, :s])
    p2 = _Counted(lambda x: -x[..., h - s:, h - s:])
    out = call(fn, images.clone(), p1, p2)
    if out.problem:
        return out.problem
    value = out.value
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return Malformed(f"it returned {describe(value)}: return the two views as a pair, (view1, view2).")
    if not all(isinstance(v, torch.Tensor) for v in value):
        kinds = " and ".join(describe(v) for v in value)
        return Malformed(f"it returned {kinds}: stack each view's images into one tensor, torch.stack([...]).")
    v1, v2 = value
    if tuple(v1.shape) != (b, 3, s, s) or tuple(v2.shape) != (b, 3, s, s):
        return Malformed(f"the views have shapes {tuple(v1.shape)} and {tuple(v2.shape)}, not ({b}, 3, {s}, {s}): "
                         "torch.stack the per-image results along a new first dimension.")
    want1, want2 = 2 * images[..., :s, :s], -images[..., h - s:, h - s:]
    if torch.allclose(v1, want2) and torch.allclose(v2, want1):
        return "the views are swapped: view 1 comes from pipeline1 and view 2 from pipeline2."
    if torch.allclose(v1, want1) and torch.allclose(v2, want1) or torch.allclose(v1, want2) and torch.allclose(v2, want2):
        return ("both views come from one pipeline: BYOL's two views come from two different pipelines, "
                "view 1 from pipeline1 and view 2 from pipeline2.")
    if not (torch.allclose(v1, want1) and torch.allclose(v2, want2)):
        if torch.allclose(v1.sort(0).values, want1.sort(0).values):
            return "the views are not in the images' order: view i must come from image i (keep the loop's order)."
        return "the views are not pipeline1 and pipeline2 of each image: view1[i] = pipeline1(images[i]), view2[i] = pipeline2(images[i])."
    # 2. One draw per image: four copies of one image through a random crop must not come out identical.
    copies = images[:1].repeat(b, 1, 1, 1)
    r1, r2 = _Counted(_crop(s)), _Counted(_crop(s))
    out = call(fn, copies, r1, r2)
    if out.problem:
        return out.problem
    v1 = out.value[0] if isinstance(out.value, (tuple, list)) and out.value else None
    if r1.batched or r2.batched or (isinstance(v1, torch.Tensor) and all(torch.equal(v1[0], v) for v in v1[1:])):
        return ("a pipeline ran once on the whole batch, so every image got the same random crop: call it on each "
                "image, torch.stack([pipeline1(x) for x in images]).")
    if r1.calls != b or r2.calls != b:
        return (f"pipeline1 ran {r1.calls} times and pipeline2 {r2.calls} times for {b} images: "
                "call each once per image.")
    return None


def reference_per_image_views(images: torch.Tensor, pipeline1: Callable, pipeline2: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image (3, H, W) of the batch through pipeline1 for view 1 and pipeline2 for view 2: its own draws."""
    return torch.stack([pipeline1(x) for x in images]), torch.stack([pipeline2(x) for x in images])


# --- a test for the loss ------------------------------------------------------------------------------

def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(a, b, dim=-1)


def _right_loss(p1, p2, z1, z2):
    return (2 - 2 * _cos(p1, z2)).mean() + (2 - 2 * _cos(p2, z1)).mean()


def _right_by_normalise(p1, p2, z1, z2):
    p1, p2, z1, z2 = (F.normalize(t, dim=-1) for t in (p1, p2, z1, z2))
    return ((p1 - z2) ** 2).sum(-1).mean() + ((p2 - z1) ** 2).sum(-1).mean()


def _right_in_float64(p1, p2, z1, z2):
    p1, p2, z1, z2 = (t.double() for t in (p1, p2, z1, z2))
    return (4 - 2 * (_cos(p1, z2) + _cos(p2, z1))).mean().float()


RIGHT_LOSSES: tuple[tuple[Callable, str], ...] = (
    (_right_loss, "ℓ(p1, z2) + ℓ(p2, z1) with ℓ the batch mean of 2 − 2·cos"),
    (_right_by_normalise, "the squared distance of the normalised vectors, ‖p̂ − ẑ‖² = 2 − 2·cos"),
    (_right_in_float64, "4 − 2·(cos₁ + cos₂), computed in float64"),
)

WRONG_LOSSES: tuple[tuple[Callable, str], ...] = (
    (lambda p1, p2, z1, z2: 2 - 2 * (_cos(p1, z2).mean() + _cos(p2, z1).mean()),
     "your test passes the sketch's loss, 2 − 2·(cos₁ + cos₂): check its value when every prediction equals the other "
     "view's target (p1 = z2, p2 = z1): BYOL's loss is 0 there, the sketch's −2."),
    (lambda p1, p2, z1, z2: (2 - 2 * _cos(p1, z1)).mean() + (2 - 2 * _cos(p2, z2)).mean(),
     "your test passes a loss that pairs each prediction with its own view's target: make p1 = z2 and p2 = z1 with "
     "z1 ≠ z2, and check that the loss is 0."),
    (lambda p1, p2, z1, z2: (2 - 2 * (p1 * z2).sum(-1)).mean() + (2 - 2 * (p2 * z1).sum(-1)).mean(),
     "your test passes a loss that forgets to normalise (2 − 2·p·z): multiply the predictions by 3 and check that "
     "the loss does not change."),
    (lambda p1, p2, z1, z2: ((2 - 2 * _cos(p1, z2)).mean() + (2 - 2 * _cos(p2, z1)).mean()) / 2,
     "your test passes a loss that averages the two terms (range 0…4): check that it is 8 when every prediction "
     "points opposite its target (p1 = −z2, p2 = −z1)."),
    (lambda p1, p2, z1, z2: (2 - 2 * _cos(p1, z2)).sum() + (2 - 2 * _cos(p2, z1)).sum(),
     "your test passes a loss that sums over the batch instead of averaging: check the values 0 and 8 on a batch "
     "of several rows (a sum gives 8·B at opposition)."),
)


def _judge(fn: Callable, loss_fn: Callable) -> tuple[bool | None, str | None]:
    """(True: the test passed loss_fn, False: it failed it, None: it broke) and the sentence when it broke.

    A test fails a loss by returning False or by raising AssertionError (pytest's way); anything else
    it returns (True, None, a tensor that is true) passes it.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            result = fn(loss_fn)
        except AssertionError:
            return False, None
        except (Exception, SystemExit):  # noqa: BLE001 — the sentence comes from call() below
            pass
        else:
            if result is None:
                return True, None
            try:
                return bool(result), None
            except (RuntimeError, TypeError, ValueError):
                return None, Malformed(f"it returned {describe(result)}: return True or False (for a tensor of "
                                       "comparisons, bool(t.all())).")
    out = call(fn, loss_fn)
    return None, out.problem or Raised("your test raised on a loss it was given: it must return True or False.")


@checker("loss test")
def check_loss_test(fn: Callable[[Callable], bool], variant: int = 0) -> str | None:
    """fn(loss_fn) -> bool: True for every right symmetric loss, False (or AssertionError) for each wrong one."""
    for loss_fn, how in RIGHT_LOSSES:
        passed, problem = _judge(fn, loss_fn)
        if problem:
            return problem
        if not passed:
            return (f"your test fails a right loss ({how}): compare numbers with a tolerance (abs(a − b) < 1e-4, "
                    "torch.isclose), not ==, and test only what every right loss must do.")
    for loss_fn, sentence in WRONG_LOSSES:
        passed, problem = _judge(fn, loss_fn)
        if problem:
            return problem
        if passed:
            return sentence
    if referenced_names(fn) & {"symmetric_loss", "byol_loss"}:
        return Right("it compares with the package's loss — a fine test when a reference exists; the graded version "
                     "asks for properties that need none (agreement 0, opposition 8, the pairing, the scale).")
    return None


# --- the epoch loop -----------------------------------------------------------------------------------

class _Step:
    """step(images, tau) -> a 0-d loss that requires grad, as a training step's loss does before .detach(); records τ."""

    def __init__(self) -> None:
        self.taus: list[float] = []
        self.sizes: list[int] = []
        self.weight = torch.ones((), requires_grad=True)

    def __call__(self, images: torch.Tensor, tau: float) -> torch.Tensor:
        self.taus.append(float(tau))
        self.sizes.append(len(images))
        return images.float().mean() * self.weight  # this batch's loss: its images' mean value


_EPOCH_CASES = ((2, 5, (8, 8, 8, 3), 0.9), (0, 3, (6, 6, 2), 0.99), (3, 4, (5, 5, 5, 5, 1), 0.96))


def _loader(sizes: tuple[int, ...], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) batches as a DataLoader yields them; every image's 'loss' differs, the last batch is smaller."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(n, 1, 2, 2, generator=g) * (k + 1), torch.zeros(n, dtype=torch.long)) for k, n in enumerate(sizes)]


def reference_train_epoch(step: Callable[[torch.Tensor, float], torch.Tensor], loader: Any, epoch: int, epochs: int,
                          tau_base: float) -> float:
    """The sketch's epoch, fixed: τ from the run's global step, and the mean loss over the epoch's images."""
    total, seen = 0.0, 0
    for i, (images, _) in enumerate(loader):
        tau = tau_schedule(epoch * len(loader) + i, epochs * len(loader), tau_base)
        total += step(images, tau).item() * len(images)
        seen += len(images)
    return total / seen


@checker("epoch loop")
def check_train_epoch(fn: Callable[..., float], variant: int = 0) -> str | None:
    """fn(step, loader, epoch, epochs, tau_base) -> the epoch's mean loss per image; τ from the global step."""
    epoch, epochs, sizes, base = _EPOCH_CASES[variant % len(_EPOCH_CASES)]
    loader, step = _loader(sizes, 7 + variant), _Step()
    out = call(fn, step, loader, epoch, epochs, base)
    if out.problem:
        return out.problem
    n, total = len(loader), epochs * len(loader)
    if len(step.taus) != n:
        return f"it called step {len(step.taus)} times for {n} batches: call it once per batch of the loader."
    taus = step.taus
    want = [tau_schedule(epoch * n + i, total, base) for i in range(n)]
    wrong_taus = (
        ([base] * n, f"τ stays at τ_base = {base}: compute it at every step, tau_schedule(step, total_steps, tau_base)."),
        ([tau_schedule(i, total, base) for i in range(n)],
         "τ restarts at every epoch: the step is counted over the whole run, epoch·len(loader) + i."),
        ([tau_schedule(epoch * n + i, n, base) for i in range(n)],
         "τ's schedule spans one epoch: total_steps is the whole run's, epochs·len(loader)."),
        ([tau_schedule(i, n, base) for i in range(n)],
         "τ runs its whole schedule in every epoch: count the step over the run, epoch·len(loader) + i, of epochs·len(loader)."),
        ([tau_schedule(epoch * n + i + 1, total, base) for i in range(n)],
         "τ is one step ahead: the run's first step is step 0, so use epoch·len(loader) + i with i counted from 0."),
        ([tau_schedule(epoch, epochs, base)] * n,
         "τ moves once per epoch: compute it at every step, from epoch·len(loader) + i."),
    )
    if not all(math.isclose(t, w, abs_tol=1e-9) for t, w in zip(taus, want)):
        if 0 < epoch and all(math.isclose(t, w, abs_tol=1e-9) for t, w in zip(taus, [tau_schedule((epoch + 1) * n + i, total, base) for i in range(n)])):
            return "τ is one epoch ahead: epochs are counted from 0, so the step is epoch·len(loader) + i."
        for wrong, sentence in wrong_taus:
            if all(math.isclose(t, w, abs_tol=1e-9) for t, w in zip(taus, wrong)):
                return sentence
        return (f"τ at the epoch's first step is {taus[0]:.6f}, where tau_schedule(epoch·len(loader), epochs·len(loader), "
                f"tau_base) is {want[0]:.6f}: compute τ from the global step.")
    value = out.value
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            return ("it returned a tensor that still holds the graph of every step: add loss.item() (a float) to the total, "
                    "so that each step's graph is freed.")
        if value.numel() != 1:
            return Malformed(f"it returned {describe(value)}: return one number, the epoch's mean loss.")
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Malformed(f"it returned {describe(value)}: return the epoch's mean loss per image, a float.")
    losses = [float(images.mean()) for images, _ in loader]
    per_image = sum(loss * len(images) for loss, (images, _) in zip(losses, loader)) / sum(sizes)
    if math.isclose(value, per_image, rel_tol=1e-5):
        return None
    if math.isclose(value, losses[-1], rel_tol=1e-5):
        return ("it returned the last batch's loss, as the sketch prints it: average the loss over the epoch's images, "
                "Σ loss·len(images) / Σ len(images).")
    if math.isclose(value, sum(losses) / n, rel_tol=1e-5):
        return ("it averaged the batches' losses as equals, but the last batch is smaller: weight each by its size, "
                "Σ loss·len(images) / Σ len(images).")
    if math.isclose(value, sum(losses), rel_tol=1e-5) or math.isclose(value, per_image * sum(sizes), rel_tol=1e-5):
        return "it returned a sum: divide by the number of images, Σ loss·len(images) / Σ len(images)."
    return f"it returned {value:.4f}, where the epoch's mean loss per image is {per_image:.4f}: Σ loss·len(images) / Σ len(images)."
