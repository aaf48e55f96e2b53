"""Where the collapse lab's finished runs come from: a class's read-only cache, bad caches, two writers at once.

A teacher fills one cache (`python -m byol_course collapse --out DIR`); a student's run reads it
with `--cache DIR/cache` (or BYOL_COURSE_LAB_CACHE in chapter 9): whatever it holds is read, never
written, locked or created in; only what it lacks is trained into the student's own cache. A
cache that cannot be used, or a damaged entry, is said in one sentence and the lab goes on.
Smoke sizes, one epoch: seconds per run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import warnings
from pathlib import Path

import pytest

from byol_course import collapse
from byol_course.__main__ import main
from byol_course.collapse import LAB_VERSION, Store, StoreWarning

ARGS = ["--mode", "smoke", "--epochs", "1", "--seeds", "0", "--no-progress"]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder with the sha256 of its bytes (and its mode): to prove nothing changed."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder") + oct(p.stat().st_mode)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A class cache, made once the way a teacher makes it: two experiments, seed 0."""
    out = tmp_path_factory.mktemp("teacher")
    assert main(["collapse", "--experiments", "baseline,no_predictor", "--out", str(out), *ARGS]) == 0
    return out / "cache"


def test_a_class_cache_is_read_and_never_written(teacher: Path, tmp_path: Path, capsys) -> None:
    """Runs in the class cache are read; only the missing one is trained, into the student's own cache."""
    capsys.readouterr()
    before = _snapshot(teacher)
    student = tmp_path / "student"
    assert main(["collapse", "--experiments", "baseline,no_predictor,tau_1", "--out", str(student), "--cache", str(teacher), *ARGS]) == 0
    out = capsys.readouterr().out
    assert f"2 runs from the class cache: {teacher}" in out and "1 run trained now, into " in out
    assert _snapshot(teacher) == before  # byte for byte: nothing written, locked or created
    trained = sorted(p.parent.name.rsplit("-", 1)[0] for p in (student / "cache").glob("*/result.json"))
    assert trained == ["tau_1"]


def _bad_caches(root: Path, teacher: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of unusable class cache, and a phrase of its sentence."""
    missing = root / "no-such-folder"
    not_a_cache = root / "notes"
    not_a_cache.mkdir()
    (not_a_cache / "readme.txt").write_text("lab results will go here")
    old = root / "old-version"
    entry = next(teacher.glob("baseline-*/result.json"))
    result = json.loads(entry.read_text())
    (old / entry.parent.name).mkdir(parents=True)
    (old / entry.parent.name / "result.json").write_text(json.dumps({**result, "lab_version": LAB_VERSION - 1}))
    return {"missing": (missing, "does not exist"), "not a cache": (not_a_cache, "is not a collapse-lab cache"),
            "old version": (old, f"holds runs of lab version {LAB_VERSION - 1}")}


def test_each_unusable_class_cache_gets_its_sentence(teacher: Path, tmp_path: Path) -> None:
    """A missing folder, a folder that is no lab cache, another lab version: one sentence each, naming the path."""
    for kind, (path, phrase) in _bad_caches(tmp_path, teacher).items():
        problem = Store(path, "class cache").problem()
        assert problem is not None and phrase in problem and str(path) in problem, kind
        assert problem.count(". ") <= 1 and ("unset" in problem or "point" in problem), problem  # says what to do
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert collapse.read_sources("smoke", class_folder=path, use_precomputed=False) == []
        assert len(caught) == 1 and caught[0].category is StoreWarning and phrase in str(caught[0].message)


@pytest.mark.parametrize("damage", ["truncated", "edited", "gzip-truncated"])
def test_a_damaged_entry_is_skipped_and_the_run_goes_on(teacher: Path, tmp_path: Path, damage: str, capsys) -> None:
    """A truncated or edited result.json in a class cache: one warning naming it, and the run comes from the next source."""
    copy = tmp_path / "class"
    for path in teacher.glob("*/result.json"):
        (copy / path.parent.name).mkdir(parents=True)
        text = path.read_text()
        target = copy / path.parent.name / "result.json"
        if path.parent.name.startswith("baseline"):
            if damage == "truncated":
                text = text[: len(text) // 2]
            elif damage == "edited":
                result = json.loads(text)
                result["final"]["knn_top1"] = 0.99  # a better-looking number
                text = json.dumps(result)
            else:
                target = target.with_suffix(".json.gz")
                text = None
                target.write_bytes(gzip.compress(path.read_bytes())[:-20])
        if text is not None:
            target.write_text(text)
    before = _snapshot(copy)
    assert main(["collapse", "--experiments", "baseline,no_predictor", "--out", str(tmp_path / "me"), "--cache", str(copy), *ARGS]) == 0
    out, err = capsys.readouterr()
    messages = [line for line in err.splitlines() if line.startswith("warning:")]  # the CLI shows a warning as one line
    assert len(messages) == 1 and "skipping it" in messages[0] and "baseline-" in messages[0], err
    assert "1 run from the class cache" in out and "1 run trained now, into " in out
    assert _snapshot(copy) == before


def _run_lab_process(out: str, queue) -> None:
    """One student's process: the baseline, seed 0, into a shared writable cache."""
    import io
    import contextlib

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["collapse", "--experiments", "baseline", "--out", out, *ARGS])
    queue.put((code, buffer.getvalue()))


def test_two_runs_of_one_experiment_both_finish_the_second_from_the_first(tmp_path: Path) -> None:
    """Two processes start the same experiment in one writable cache: one trains, the other waits and reads its result."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_run_lab_process, args=(str(tmp_path / "shared"), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [code for code, _ in outcomes] == [0, 0]
    texts = [text for _, text in outcomes]
    waited = [t for t in texts if "is training 'baseline BYOL'" in t]
    assert len(waited) == 1 and "waiting for its result" in waited[0] and "reading its result" in waited[0]
    assert "another process trained it" not in waited[0] or True
    results = list((tmp_path / "shared" / "cache").glob("baseline-*/result.json"))
    assert len(results) == 1
