"""Shared by the grading tests: the course's solutions as functions, and one classic mistake per exercise.

A mistake is a replacement inside the exercise's solution region (so it stays in step with the
notebook's solution) and the phrase its diagnosis must contain.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

# grade_id -> ((old, new) replacements in the solution, a phrase of the diagnosis)
MISTAKES: dict[str, tuple[list[tuple[str, str]], str]] = {
    "ch01-solarize": ([("x >= threshold", "x > threshold")], "exactly at the threshold"),
    "ch01-views": ([("return one_view(first), one_view(second)", "return one_view(first), one_view(first)")],
                   "both views come from view 1's pipeline"),
    "ch02-projector": ([("        nn.BatchNorm1d(hidden_dim),  # normalises each hidden unit over the batch\n        nn.ReLU(inplace=True),",
                         "        nn.ReLU(inplace=True),\n        nn.BatchNorm1d(hidden_dim),")], "the ReLU comes before the batch norm"),
    "ch02-target": ([("weight.requires_grad_(False)", "pass")], "still require gradients"),
    "ch03-loss": ([("return (p_unit - z_unit)", "return (p - z)")], "normalise p and z first"),
    "ch03-symmetric-loss": ([("byol_loss(p1, z2)", "byol_loss(p1, z1)"), ("byol_loss(p2, z1)", "byol_loss(p2, z2)")],
                            "its own view's target"),
    "ch03-stop-gradient": ([("with torch.no_grad():", "if True:")], "gradients reach the target network"),
    "ch04-ema": ([("xi.mul_(tau).add_(theta, alpha=1 - tau)  # ξ", "xi.mul_(1 - tau).add_(theta, alpha=tau)  # ξ")],
                 "swapped τ and 1 − τ"),
    "ch05-train-step": ([("    optimizer.zero_grad(set_to_none=True)\n", "")], "gradients of the previous step were added"),
    "ch06-bug-list": ([("    return {\n", "    return {} and {\n")], "list at least five"),
    "ch06-per-image-views": ([("view2 = torch.stack([pipeline2(x)", "view2 = torch.stack([pipeline1(x)")],
                             "both views come from one pipeline"),
    "ch06-loss-test": ([("z1, z2 = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)",
                         "z1 = z2 = torch.randn(8, 16, generator=g)")], "its own view's target"),
    "ch06-epoch": ([("tau_schedule(epoch * len(loader) + i,", "tau_schedule(i,")], "restarts at every epoch"),
    "ch07-lars": ([("ratio = torch.clamp(ratio / lr, max=1.0)", "ratio = torch.clamp(ratio, max=1.0)")], "not min(trust ratio, 1)"),
    "ch09-onset": ([("            lo = mid  # the boundary lies above mid\n        else:\n            hi = mid",
                     "            hi = mid  # the boundary lies above mid\n        else:\n            lo = mid")],
                   "the boundary lies above mid, so lo = mid"),
    "ch08-knn": ([("(sim / temperature).exp()", "torch.ones_like(sim)")], "votes barely depend on their similarity"),
    "ch08-effective-rank": ([("return torch.exp(-(p * p.log()).sum()).item()", "return (-(p * p.log()).sum()).item()")],
                            "that is the entropy"),
    "ch08-linear-probe": ([("probe(c).fit(x_fit, y_fit).score(x_val, y_val)", "probe(c).fit(x, y).score(test_x.numpy(), test_y.numpy())")],
                          "C was chosen on the test set"),
    "ch10-linear-step": ([("new_Wa = tau * Wa + (1 - tau) * new_W", "new_Wa = tau * Wa + (1 - tau) * W")], "EMA"),
    "ch10-spectrum": ([("return s.flip(0), U.flip(1)", "return s.flip(0), U")], "eigenvectors"),
    "ch10-directpred": ([("p = s.sqrt() + eps * s.max()", "p = s + eps * s.max()")], "square root"),
}

# What the notebooks' set-up and import cells give a solution to work with.
PREAMBLE = """
import copy
import torch
import torch.nn as nn
import torch.nn.functional as F
from byol_course import augment
from byol_course.augment import AugmentConfig, ViewConfig
from byol_course.ema import ema_update_, tau_schedule
from byol_course.networks import BYOLNetworks
from byol_course.objective import byol_loss, symmetric_loss
"""


def solution_cells() -> dict[str, str]:
    """grade_id -> the source of its solution cell, from the committed notebooks."""
    out = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution") and cell["cell_type"] == "code":
                out[meta["grade_id"]] = "".join(cell["source"])
    return out


def with_mistake(source: str, grade_id: str) -> str:
    """The solution with the exercise's classic mistake written into its solution region."""
    changes, _ = MISTAKES[grade_id]
    head, region = source.split(BEGIN, 1)
    region, tail = region.split(END, 1)
    for old, new in changes:
        assert old in region, f"{grade_id}: {old!r} is not in the solution any more; update tests/_classroom.py"
        region = region.replace(old, new)
    return head + BEGIN + region + END + tail


def stub(source: str) -> str:
    """The solution cell with its region replaced by nbgrader's stub: what an untouched submission holds."""
    return re.sub(rf"( *){re.escape(BEGIN)}.*?{re.escape(END)}", r"\1# YOUR CODE HERE\n\1raise NotImplementedError()",
                  source, flags=re.S)


def define(source: str, name: str) -> Callable:
    """Execute a solution cell as a notebook would (module __main__) and return the function it defines."""
    namespace: dict = {"__name__": "__main__"}
    exec(compile(PREAMBLE + source, "<notebook cell>", "exec"), namespace)  # noqa: S102 — the course's own solution code
    return namespace[name]


def submission(release, source, kind: str):
    """A student's submission made from the student version: 'solved', 'untouched' or 'mistakes'.

    solved: every solution cell and answer cell as in the graded source (the instructor's answers);
    mistakes: solved, with each exercise's classic mistake written into its solution.
    """
    import copy as _copy

    nb = _copy.deepcopy(release)
    if kind == "untouched":
        return nb
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            text = answers[meta["grade_id"]]
            if kind == "mistakes" and cell.cell_type == "code" and meta["grade_id"] in MISTAKES:
                text = with_mistake(text, meta["grade_id"])
            cell.source = text
    return nb


def otter_submission(student, kind: str, chapter: int):
    """A submission made from otter's student version of a chapter: 'solved', 'untouched' or 'mistakes' (exercises only)."""
    import copy as _copy

    from byol_course.exercises.grading import EXERCISES

    nb = _copy.deepcopy(student)
    if kind == "untouched":
        return nb
    solutions = solution_cells()
    mine = {e.function: g for g, e in EXERCISES.items() if e.chapter == chapter}
    for cell in nb.cells:
        found = re.search(r"^def (\w+)\(", cell.source, flags=re.M) if cell.cell_type == "code" else None
        if found and found.group(1) in mine:
            grade_id = mine[found.group(1)]
            text = solutions[grade_id] if kind == "solved" else with_mistake(solutions[grade_id], grade_id)
            cell.source = "\n".join(line for line in text.split("\n") if "### " not in line and "# @title" not in line)
    return nb
