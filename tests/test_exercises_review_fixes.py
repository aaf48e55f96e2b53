"""Chapter 6's checkers: the bug list, per-image views, a test for the loss and the epoch loop — right answers
written in several ways, and every mistake each checker claims to recognise, on every variant of its inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from byol_course.ema import tau_schedule
from byol_course.exercises import check_bug_list, check_loss_test, check_per_image_views, check_train_epoch
from byol_course.exercises.fixes import WRONG_LOSSES, reference_per_image_views, reference_train_epoch
from byol_course.exercises.review import BUGS, CHOICES, SKETCH, bug_list_report
from byol_course.objective import symmetric_loss

from _exercise_helpers import assert_diagnosis, not_written, verdict

VARIANTS = (0, 1, 2)
ROOT = Path(__file__).resolve().parents[1]


# --- the bug list -------------------------------------------------------------------------------------

def test_the_notebook_prints_the_sketch_the_checker_numbers() -> None:
    """The numbered sketch in chapter 6's markdown is SKETCH, line for line: the student's numbers mean the checker's."""
    nb = json.loads((ROOT / "notebooks" / "06_find_the_bugs.ipynb").read_text(encoding="utf-8"))
    text = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown" and "```python" in "".join(c["source"]))
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    numbered = [line[4:] if len(line) > 3 else "" for line in block.splitlines()]
    assert [line[:2].strip() for line in block.splitlines()] == [str(i) for i in range(1, len(numbered) + 1)]
    assert numbered == SKETCH.splitlines()


def test_every_bug_and_choice_points_at_a_line_of_the_sketch() -> None:
    lines = SKETCH.splitlines()
    for bug in BUGS:
        assert bug.lines and all(1 <= n <= len(lines) and lines[n - 1].strip() for n in bug.lines), bug
    assert all(lines[n - 1].strip() for n in CHOICES)
    assert "tau=0.996" in lines[71] and "print" in lines[88] and "pretrained=False" in lines[8]


def everything():
    return {9: "torchvision not imported; pretrained is deprecated", 3: "only transforms imported", 57: "F not imported",
            58: "loss is 2 - 2(c1 + c2): range -2..6", 68: "ToTensor on a batch", 76: "one crop for the batch",
            77: "same pipeline for both views", 72: "tau fixed", 89: "prints the last batch", 1: "imports"}


def five_found():
    return {9: "torchvision", 57: "loss range", 76: "batch transform", 72: "fixed tau", 89: "last loss only"}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn", [everything, five_found], ids=["all", "five"])
def test_bug_lists_that_find_enough_pass(fn, variant) -> None:
    assert check_bug_list.verdict(fn, variant=variant) is not None  # a Right: it says how many, never which
    assert check_bug_list(fn)


def test_a_line_counts_for_one_bug_only(capsys) -> None:
    # line 9 holds bugs 1 and 3, lines 76/77 hold 4, 5 and 6: five bugs need five lines
    assert_diagnosis(check_bug_list, lambda: {9: "imports", 76: "views", 77: "views", 89: "print"}, "find 4 of", capsys)


def test_the_verdict_counts_without_naming_the_bugs(capsys) -> None:
    ok, line = verdict(check_bug_list, everything, capsys)
    assert ok and "find 9 of the sketch's 9 bugs" in line
    assert not any(bug.what in line for bug in BUGS)


def test_the_design_choices_are_counted_apart(capsys) -> None:
    ok, line = verdict(check_bug_list, lambda: {**five_found(), 39: "copies parameters only", 86: "EMA over parameters"}, capsys)
    assert ok and "2 of your lines hold a design choice" in line


def test_too_few_bugs(capsys) -> None:
    assert_diagnosis(check_bug_list, lambda: {9: "torchvision", 89: "print"}, "list at least five", capsys)


def test_mostly_clean_lines(capsys) -> None:
    noise = {n: "looks odd" for n in (10, 11, 14, 15, 16, 23, 33, 44)}
    assert_diagnosis(check_bug_list, lambda: {**five_found(), **noise}, "hold none", capsys)


def test_every_line(capsys) -> None:
    assert_diagnosis(check_bug_list, lambda: {n: "?" for n in range(1, 90)}, "not every line", capsys)


@pytest.mark.parametrize("answer, phrase", [
    ([9, 57, 76, 72, 89], "return a dict"),
    ({"9": "torchvision"}, "not a line number"),
    ({200: "past the end"}, "outside the sketch"),
    ({9: ""}, "has no reason"),
])
def test_malformed_bug_lists(answer, phrase, capsys) -> None:
    assert_diagnosis(check_bug_list, lambda: answer, phrase, capsys)


def test_the_report_pairs_a_shared_line_with_the_bug_its_reason_names() -> None:
    report = bug_list_report({57: "the loss goes negative: range -2..6", 58: "F is never imported", 9: "x", 76: "y",
                              77: "z", 72: "fixed tau"}).splitlines()
    assert "bug  2  found at line 58" in report[1] and "bug  8  found at line 57" in report[6]


def test_the_report_after_the_reveal_names_each_bug() -> None:
    report = bug_list_report({**five_found(), 39: "copy"})
    assert report.count("found at line") == 5 and report.count("not found") == 4
    assert "design choice" in report and all(bug.what in report for bug in BUGS)
    assert bug_list_report([1, 2]).startswith("✗")


# --- per-image views ----------------------------------------------------------------------------------

def views_stack(images, pipeline1, pipeline2):
    return torch.stack([pipeline1(x) for x in images]), torch.stack([pipeline2(x) for x in images])


def views_loop(images, pipeline1, pipeline2):
    first, second = [], []
    for i in range(len(images)):
        first.append(pipeline1(images[i]))
        second.append(pipeline2(images[i]))
    return torch.stack(first), torch.stack(second)


def views_cat(images, pipeline1, pipeline2):  # one-image batches, (1, 3, H, W), concatenated
    return (torch.cat([pipeline1(images[i:i + 1]) for i in range(len(images))]),
            torch.cat([pipeline2(images[i:i + 1]) for i in range(len(images))]))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn", [views_stack, views_loop, views_cat, reference_per_image_views], ids=["stack", "loop", "cat", "package"])
def test_right_views_pass(fn, variant) -> None:
    assert check_per_image_views.verdict(fn, variant=variant) is None


def test_a_real_torchvision_pipeline_works_per_image() -> None:
    from torchvision.transforms import v2
    pipe = v2.Compose([v2.RandomResizedCrop(8, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip()])
    torch.manual_seed(0)
    v1, v2_ = views_stack(torch.rand(4, 3, 12, 12), pipe, pipe)
    assert v1.shape == (4, 3, 8, 8) and not torch.equal(v1[0], v1[1])


@pytest.mark.parametrize("fn, phrase", [
    (lambda images, p1, p2: (p1(images), p2(images)), "ran once on the whole batch"),
    (lambda images, p1, p2: views_stack(images, p1, p1), "both views come from one pipeline"),
    (lambda images, p1, p2: (lambda v: (v, v))(torch.stack([p1(x) for x in images])), "both views come from one pipeline"),
    (lambda images, p1, p2: views_stack(images, p2, p1), "swapped"),
    (lambda images, p1, p2: views_stack(images.flip(0), p1, p2), "images' order"),
    (lambda images, p1, p2: ([p1(x) for x in images], [p2(x) for x in images]), "torch.stack"),
    (lambda images, p1, p2: torch.stack([p1(x) for x in images]), "as a pair"),
    (lambda images, p1, p2: (torch.stack([p1(x) for x in images]), torch.stack([p1(x) for x in images])), "both views come from one pipeline"),
    (lambda images, p1, p2: (views_stack(images, p1, p2), [p1(x) for x in images])[0], None),  # calls p1 twice per image
    (lambda images, p1, p2: (torch.cat([p1(x) for x in images]), torch.cat([p2(x) for x in images])), "shapes"),
    (not_written, "not written yet"),
])
def test_view_mistakes(fn, phrase, capsys) -> None:
    if phrase is None:
        assert_diagnosis(check_per_image_views, fn, "ran 8 times", capsys)
    else:
        assert_diagnosis(check_per_image_views, fn, phrase, capsys)


# --- a test for the loss ------------------------------------------------------------------------------

def loss_test_bools(loss_fn):
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 16), torch.randn(6, 16)
    agree = loss_fn(z2, z1, z1, z2)
    opposite = loss_fn(-z2, -z1, z1, z2)
    scaled = loss_fn(3 * z2, 3 * z1, z1, z2)
    return abs(float(agree)) < 1e-4 and abs(float(opposite) - 8) < 1e-4 and abs(float(scaled)) < 1e-4


def loss_test_asserts(loss_fn):  # pytest's style: asserts, no return value
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    assert torch.isclose(loss_fn(z2, z1, z1, z2), torch.tensor(0.0), atol=1e-5)
    assert torch.isclose(loss_fn(-2 * z2, -2 * z1, z1, z2), torch.tensor(8.0), atol=1e-4)


def loss_test_tensor(loss_fn):  # returns a tensor of comparisons
    z1, z2 = F.normalize(torch.randn(5, 3), dim=-1), F.normalize(torch.randn(5, 3), dim=-1)
    got = torch.stack([loss_fn(0.5 * z2, 0.5 * z1, z1, z2), loss_fn(-z2, -z1, z1, z2)])
    return torch.isclose(got.float(), torch.tensor([0.0, 8.0]), atol=1e-4).all()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn", [loss_test_bools, loss_test_asserts, loss_test_tensor], ids=["bools", "asserts", "tensor"])
def test_right_loss_tests_pass(fn, variant) -> None:
    assert check_loss_test.verdict(fn, variant=variant) is None


def test_a_test_against_the_package_is_right_in_another_way(capsys) -> None:
    def against_reference(loss_fn):
        p1, p2, z1, z2 = torch.randn(4, 4, 8).unbind(0)
        return bool(torch.isclose(loss_fn(p1, p2, z1, z2), symmetric_loss(p1, p2, z1, z2), atol=1e-5))

    ok, line = verdict(check_loss_test, against_reference, capsys)
    assert ok and "compares with the package's loss" in line


def test_each_wrong_loss_is_caught_by_a_right_test() -> None:
    for wrong, _ in WRONG_LOSSES:
        assert loss_test_bools(wrong) is False


def no_opposition(loss_fn):  # loss_test_bools without its check at opposition
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 16), torch.randn(6, 16)
    return abs(float(loss_fn(z2, z1, z1, z2))) < 1e-4 and abs(float(loss_fn(3 * z2, 3 * z1, z1, z2))) < 1e-4


def ordering_only(loss_fn):  # agreement below opposition: true of a loss off by a constant too
    z1, z2 = torch.randn(6, 16), torch.randn(6, 16)
    return float(loss_fn(z2, z1, z1, z2)) < float(loss_fn(-z2, -z1, z1, z2))


def unit_vectors_only(loss_fn):  # every vector of norm 1: normalising changes nothing
    z1, z2 = F.normalize(torch.randn(6, 16), dim=-1), F.normalize(torch.randn(6, 16), dim=-1)
    return abs(float(loss_fn(z2, z1, z1, z2))) < 1e-4 and abs(float(loss_fn(-z2, -z1, z1, z2)) - 8) < 1e-4


def same_targets_only(loss_fn):  # z1 = z2: the pairing cannot show
    z = torch.randn(6, 16)
    return abs(float(loss_fn(z, z, z, z))) < 1e-4 and abs(float(loss_fn(-z, -z, z, z)) - 8) < 1e-4 \
        and abs(float(loss_fn(3 * z, 3 * z, z, z))) < 1e-4


def one_row_only(loss_fn):  # a batch of one: a sum over the batch is the mean
    z1, z2 = torch.randn(1, 16), torch.randn(1, 16)
    return (abs(float(loss_fn(z2, z1, z1, z2))) < 1e-4 and abs(float(loss_fn(-z2, -z1, z1, z2)) - 8) < 1e-4
            and abs(float(loss_fn(3 * z2, 3 * z1, z1, z2))) < 1e-4 and abs(float(loss_fn(z1, z2, z1, z2)) - float(loss_fn(z1, z2, z1, z2))) < 1)


@pytest.mark.parametrize("fn, phrase", [
    (lambda loss_fn: True, "the sketch's loss"),
    (lambda loss_fn: False, "fails a right loss"),
    (lambda loss_fn: float(loss_fn(*torch.ones(4, 2, 3).unbind(0))) == 0.0, "fails a right loss"),
    (ordering_only, "the sketch's loss"),
    (same_targets_only, "its own view's target"),
    (unit_vectors_only, "forgets to normalise"),
    (no_opposition, None),
    (one_row_only, "sums over the batch"),
    (lambda loss_fn: loss_fn(torch.randn(3, 4)), "raised TypeError"),
    (lambda loss_fn: torch.ones(2) > 0, "return True or False"),
    (not_written, "not written yet"),
])
def test_loss_test_mistakes(fn, phrase, capsys) -> None:
    ok, line = verdict(check_loss_test, fn, capsys)
    assert not ok, line
    assert (phrase or "") in line, line


def test_a_test_that_misses_opposition_misses_the_averaged_loss(capsys) -> None:
    assert_diagnosis(check_loss_test, no_opposition, "averages the two terms", capsys)


# --- the epoch loop -----------------------------------------------------------------------------------

def epoch_reference(step, loader, epoch, epochs, tau_base):
    total, count = 0.0, 0
    for i, (images, _) in enumerate(loader):
        tau = tau_schedule(epoch * len(loader) + i, epochs * len(loader), tau_base)
        loss = step(images, tau)
        total += loss.item() * len(images)
        count += len(images)
    return total / count


def epoch_tensor_total(step, loader, epoch, epochs, tau_base):  # a detached tensor total, returned as a 0-d tensor
    n = len(loader)
    losses, sizes = [], []
    for i, batch in enumerate(loader):
        losses.append(step(batch[0], tau_schedule(n * epoch + i, n * epochs, base=tau_base)).detach())
        sizes.append(batch[0].shape[0])
    sizes = torch.tensor(sizes, dtype=torch.float32)
    return (torch.stack(losses) * sizes).sum() / sizes.sum()


def epoch_counter(step, loader, epoch, epochs, tau_base):  # a global step counter instead of enumerate
    k = epoch * len(loader)
    seen, total = 0, 0.0
    for images, labels in loader:
        total += float(step(images, tau_schedule(k, epochs * len(loader), tau_base)).detach()) * images.size(0)
        seen += images.size(0)
        k += 1
    return total / seen


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn", [epoch_reference, epoch_tensor_total, epoch_counter, reference_train_epoch],
                         ids=["float", "tensor", "counter", "package"])
def test_right_epochs_pass(fn, variant) -> None:
    assert check_train_epoch.verdict(fn, variant=variant) is None


def _epoch(tau_at=None, loss_of=None):
    """epoch_reference with τ (tau_at(epoch, i, n, epochs, base)) or the returned loss (loss_of(losses, sizes)) changed."""
    def fn(step, loader, epoch, epochs, tau_base):
        n, losses, sizes = len(loader), [], []
        for i, (images, _) in enumerate(loader):
            tau = tau_at(epoch, i, n, epochs, tau_base) if tau_at else tau_schedule(epoch * n + i, epochs * n, tau_base)
            losses.append(step(images, tau))
            sizes.append(len(images))
        if loss_of:
            return loss_of(losses, sizes)
        return sum(loss.item() * s for loss, s in zip(losses, sizes)) / sum(sizes)
    return fn


@pytest.mark.parametrize("fn, phrase", [
    (_epoch(tau_at=lambda e, i, n, E, b: b), "stays at τ_base"),
    (_epoch(tau_at=lambda e, i, n, E, b: 0.996), "τ at the epoch's first step"),
    (_epoch(tau_at=lambda e, i, n, E, b: tau_schedule(i, E * n, b)), "restarts at every epoch"),
    (_epoch(tau_at=lambda e, i, n, E, b: tau_schedule(e * n + i, n, b)), "spans one epoch"),
    (_epoch(tau_at=lambda e, i, n, E, b: tau_schedule(i, n, b)), "whole schedule in every epoch"),
    (_epoch(tau_at=lambda e, i, n, E, b: tau_schedule(e * n + i + 1, E * n, b)), "one step ahead"),
    (_epoch(tau_at=lambda e, i, n, E, b: tau_schedule((e + 1) * n + i, E * n, b)), "one epoch ahead"),
    (_epoch(tau_at=lambda e, i, n, E, b: tau_schedule(e, E, b)), "once per epoch"),
    (_epoch(loss_of=lambda losses, sizes: losses[-1].item()), "last batch's loss"),
    (_epoch(loss_of=lambda losses, sizes: sum(x.item() for x in losses) / len(losses)), "as equals"),
    (_epoch(loss_of=lambda losses, sizes: sum(x.item() * s for x, s in zip(losses, sizes))), "returned a sum"),
    (_epoch(loss_of=lambda losses, sizes: sum(x * s for x, s in zip(losses, sizes)) / sum(sizes)), "holds the graph"),
    (_epoch(loss_of=lambda losses, sizes: [x.item() for x in losses]), "a float"),
    (_epoch(loss_of=lambda losses, sizes: 0.5), "where the epoch's mean loss"),
    (lambda step, loader, epoch, epochs, tau_base: epoch_reference(step, loader[:-1], epoch, epochs, tau_base), "once per batch"),
    (not_written, "not written yet"),
])
def test_epoch_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_train_epoch, fn, phrase, capsys)


@pytest.mark.parametrize("variant", VARIANTS)
def test_epoch_variants_tell_the_restart_apart_where_they_can(variant) -> None:
    from byol_course.exercises.fixes import _EPOCH_CASES
    wrong = _epoch(tau_at=lambda e, i, n, E, b: tau_schedule(i, E * n, b))
    expect_caught = _EPOCH_CASES[variant][0] > 0
    assert (check_train_epoch.verdict(wrong, variant=variant) is not None) == expect_caught
