"""Chapter 6's first exercise: review the seed sketch and list its bugs, before the chapter reveals them.

    check_bug_list(fn)       fn() -> {line: "what is wrong"}: judged by how many of the sketch's
                             bugs the listed lines find, never saying which
    bug_list_report(listed)  after the reveal: which bug each listed line found, and what was missed

`SKETCH` is the sketch as the notebook prints it, numbered from 1; `BUGS` says which of its
lines hold each bug (a bug may be seen on more than one line) and `CHOICES` which hold the two
halves of a design choice that is not a bug. A listed line counts for one bug at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .common import Malformed, Right, call, checker, describe
from .messages import say

__all__ = ["SKETCH", "BUGS", "CHOICES", "check_bug_list", "bug_list_report"]

SKETCH = '''\
import torch
import torch.nn as nn
import torchvision.transforms as transforms

# Define the encoder (ResNet-50)
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        resnet = torchvision.models.resnet50(pretrained=False)
        self.encoder = nn.Sequential(*list(resnet.children())[:-1])
        self.projector = nn.Sequential(nn.Linear(2048, 4096), nn.BatchNorm1d(4096), nn.ReLU(), nn.Linear(4096, 256))

    def forward(self, x):
        x = self.encoder(x)
        x = torch.flatten(x, 1)
        x = self.projector(x)
        return x

# Define the predictor
class Predictor(nn.Module):
    def __init__(self):
        super().__init__()
        self.predictor = nn.Sequential(nn.Linear(256, 4096), nn.BatchNorm1d(4096), nn.ReLU(), nn.Linear(4096, 256))

    def forward(self, x):
        x = self.predictor(x)
        return x

# Define the BYOL model
class BYOL(nn.Module):
    def __init__(self):
        super().__init__()
        self.online_encoder = Encoder()
        self.target_encoder = Encoder()
        self.predictor = Predictor()

        # Initialise the target encoder
        for param_o, param_t in zip(self.online_encoder.parameters(), self.target_encoder.parameters()):
            param_t.data.copy_(param_o.data)
            param_t.requires_grad = False

    def forward(self, v1, v2):
        # Outputs of the online encoder
        y1 = self.online_encoder(v1)
        y2 = self.online_encoder(v2)

        # Outputs of the target encoder
        with torch.no_grad():
            t1 = self.target_encoder(v1)
            t2 = self.target_encoder(v2)

        # Outputs of the predictor
        p1 = self.predictor(y1)
        p2 = self.predictor(y2)

        # Compute the loss
        loss = 2 - 2 * (F.cosine_similarity(p1, t2.detach(), dim=-1).mean() +
                        F.cosine_similarity(p2, t1.detach(), dim=-1).mean())

        return loss

# Define the image augmentation
augmentation = transforms.Compose([
    transforms.RandomResizedCrop(224, scale=(0.2, 1.0)),
    transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
    transforms.RandomGrayscale(p=0.2),
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])

# Train BYOL
def train_byol(model, dataloader, optimizer, epoch, tau=0.996):
    model.train()

    for images, _ in dataloader:
        v1 = augmentation(images)
        v2 = augmentation(images)

        loss = model(v1, v2)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        # EMA update of the target encoder
        for param_o, param_t in zip(model.online_encoder.parameters(), model.target_encoder.parameters()):
            param_t.data = tau * param_t.data + (1 - tau) * param_o.data

    print(f"Epoch [{epoch}]: Loss: {loss.item():.4f}")
'''


@dataclass(frozen=True)
class Bug:
    """One bug of the sketch: its number in the chapter's reveal, a few words, and the lines where it can be seen."""

    number: int
    what: str
    lines: frozenset[int]
    words: tuple[str, ...] = ()  # words a student's reason for it likely holds: only to pair lines with bugs in the report


BUGS: tuple[Bug, ...] = (
    Bug(1, "`torchvision` is never imported (only its `transforms`)", frozenset({3, 9}), ("torchvision",)),
    Bug(2, "`F` is never imported", frozenset({1, 2, 3, 57, 58}), (" f ", "f.", "functional", "`f`", "f is", "f not")),
    Bug(3, "`pretrained=False` is deprecated: `weights=None`", frozenset({9}), ("pretrained", "weights", "deprecat")),
    Bug(4, "`ToTensor()` converts one PIL image, not a batch", frozenset({68, 76, 77}), ("totensor", "pil")),
    Bug(5, "random transforms on a batch tensor: one draw for the whole batch", frozenset({63, 64, 65, 66, 67, 76, 77}), ("batch", "once", "same crop", "per image", "per-image", "each image", "every image")),
    Bug(6, "one pipeline for both views, no blur or solarize, not the paper's crop and jitter", frozenset({63, 64, 65, 76, 77}), ("pipeline", "both views", "blur", "solari", "asymmetr", "0.08", "8%", "saturation")),
    Bug(8, "2 − 2·(cos₁ + cos₂) runs from −2 to 6: BYOL's loss is 4 − 2·(cos₁ + cos₂)", frozenset({57, 58}), ("range", "−2", "-2", "constant", "negative", "4 −", "4 -", "0…8", "0..8", "loss")),
    Bug(10, "τ fixed at 0.996: BYOL's τ follows a schedule over the run", frozenset({72, 87}), ("tau", "τ", "schedule")),
    Bug(11, "the printed loss is the last batch's only", frozenset({89}), ("print", "last")),
)
# Numbers 7 and 9 of the reveal: parameters copied into the target, EMA over parameters only (DeepMind's choice).
CHOICES: frozenset[int] = frozenset({38, 39, 40, 86})
_SKETCH_LINES = len(SKETCH.splitlines())
_MIN_FOUND = 5  # of the 9 bugs: found before the reveal, with no hint but the chapters already done


def _match(listed: dict[int, str] | set[int]) -> dict[int, int]:
    """The most bugs the listed lines can account for, each line counting for one bug: bug number → line.

    A maximum matching (augmenting paths), so the count never depends on the order of the list; where
    several matchings are as large, a line whose reason names a bug's words is tried for that bug first.
    """
    reasons = listed if isinstance(listed, dict) else {}
    lines = set(listed)
    owner: dict[int, int] = {}  # line → bug number holding it

    def named(bug: Bug, line: int) -> bool:
        text = f" {str(reasons.get(line, '')).lower()} "
        return any(word in text for word in bug.words)

    def augment(bug: Bug, seen: set[int]) -> bool:
        for line in sorted(bug.lines & lines, key=lambda n: (not named(bug, n), n)):
            if line in seen:
                continue
            seen.add(line)
            if line not in owner or augment(next(b for b in BUGS if b.number == owner[line]), seen):
                owner[line] = bug.number
                return True
        return False

    for bug in BUGS:
        augment(bug, set())
    return {number: line for line, number in owner.items()}


def _parse(value: Any) -> tuple[dict[int, str] | None, str | None]:
    """The student's {line: reason}, or the sentence saying why it is not one."""
    if not isinstance(value, dict):
        return None, Malformed(f"it returned {describe(value)}: return a dict {{line number: 'what is wrong there'}}, "
                               "e.g. {9: 'torchvision is not imported'}.")
    parsed = {}
    for line, reason in value.items():
        if isinstance(line, bool) or not isinstance(line, int):
            return None, Malformed(f"the key {line!r} is not a line number: use the numbers printed left of the sketch, as ints.")
        if not 1 <= line <= _SKETCH_LINES:
            return None, Malformed(f"line {line} is outside the sketch, which has lines 1 to {_SKETCH_LINES}.")
        if not isinstance(reason, str) or not reason.strip():
            return None, Malformed(f"line {line} has no reason: say in a few words what is wrong there (a str).")
        parsed[line] = reason
    return parsed, None


@checker("bug list")
def check_bug_list(fn: Callable[[], dict[int, str]], variant: int = 0) -> str | None:
    """fn() -> {line: reason}: at least five of the sketch's nine bugs, not every line of it; which ones stays hidden."""
    out = call(fn)
    if out.problem:
        return out.problem
    listed, problem = _parse(out.value)
    if problem:
        return problem
    if len(listed) > 3 * len(BUGS):
        return (f"it lists {len(listed)} lines: list the lines you can say what is wrong with, not every line "
                "— a reviewer who flags everything has found nothing.")
    found = _match(listed)
    clean = len(set(listed) - set(found.values()) - CHOICES)
    if len(found) < _MIN_FOUND:
        return (f"your lines find {len(found)} of the sketch's {len(BUGS)} bugs (a line counts for one bug): read it again "
                "line by line against what chapters 1–5 built, and list at least five before the reveal.")
    if clean > len(found):
        return (f"your lines find {len(found)} of the {len(BUGS)} bugs, but {clean} of them hold none: keep the lines you can "
                "say what is wrong with.")
    choices = len(set(listed) & CHOICES - set(found.values()))
    said = f"; {choices} of your lines hold a design choice, not a bug (sections 3 and 5 say why)" if choices else ""
    return Right(f"your lines find {len(found)} of the sketch's {len(BUGS)} bugs{said}; "
                 "sections 1–7 reveal them all, and the summary shows which you found.")


def bug_list_report(listed: dict[int, str]) -> str:
    """After the reveal: for each bug, the line of the student's list that found it, or that it was missed."""
    lines, problem = _parse(listed)
    if problem:
        return f"✗ {say(problem)}"
    found = _match(lines)
    rows = []
    for bug in BUGS:
        seen = f"found at line {found[bug.number]}" if bug.number in found else "not found"
        rows.append(f"bug {bug.number:2d}  {say(seen):18s}  {say(bug.what)}")
    extra = sorted(set(lines) - set(found.values()))
    for line in extra:
        kind = "a design choice (7/9), not a bug" if line in CHOICES else "no bug on this line"
        rows.append(f"line {line:2d}  {say(kind)}: {say('you wrote')} {lines[line]!r}")
    return "\n".join(rows)
