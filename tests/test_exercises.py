"""What every exercise checker promises: it never raises, prints one line of one sentence, and keeps the notebook's state.

The per-chapter catalogues of wrong answers are in test_exercises_<chapters>.py.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from _exercise_helpers import verdict
from byol_course import exercises

pytestmark = pytest.mark.usefixtures("one_thread")

PACKAGE = Path(exercises.__file__).parent
CHECKERS = [name for name in exercises.__all__ if name.startswith("check_")]


def _raises_value_error(*args):
    raise ValueError("boom")


def _exits(*args):
    raise SystemExit(1)


def _prints_and_returns_none(*args):
    print("debugging output the checker must not mix into its verdict")


def _returns_nan(*args):
    return torch.tensor(float("nan"))


def _mutates_everything(*args):
    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            a.fill_(float("nan"))
        elif isinstance(a, torch.nn.Module):
            for p in a.parameters():
                p.data.fill_(float("nan"))
    return args[0] if args else None


def _switches_grad_off(*args):
    torch.set_grad_enabled(False)
    return None


PATHOLOGIES = [
    pytest.param(_raises_value_error, id="raises"),
    pytest.param(_exits, id="sys-exit"),
    pytest.param(_prints_and_returns_none, id="prints-returns-None"),
    pytest.param(lambda *a: "a string", id="returns-str"),
    pytest.param(lambda *a: (1, 2, 3), id="returns-tuple"),
    pytest.param(_returns_nan, id="returns-NaN"),
    pytest.param(lambda *a: torch.zeros(7, 7, 7), id="wrong-shape"),
    pytest.param(_mutates_everything, id="mutates-inputs"),
    pytest.param(_switches_grad_off, id="grad-off"),
    pytest.param(lambda: None, id="takes-no-arguments"),
]


@pytest.mark.parametrize("name", CHECKERS)
@pytest.mark.parametrize("fn", PATHOLOGIES)
def test_a_checker_never_raises_and_says_one_thing(name: str, fn, capsys) -> None:
    """Whatever the student's function does, the checker returns False and prints one ✗ line of one sentence."""
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    ok, line = verdict(getattr(exercises, name), fn, capsys)
    assert ok is False and line.startswith("✗ "), line
    assert "debugging output" not in line
    assert torch.is_grad_enabled(), "the checker must restore grad mode"
    assert torch.get_num_threads() == threads, "the checker runs on one thread and must give the kernel its threads back"
    assert torch.equal(torch.get_rng_state(), rng), "the checker must leave torch's global random state alone"
    sentence = line.split(": ", 1)[1]
    assert sentence.endswith(".") and not re.search(r"[.!?] [A-Z]", sentence.replace("e.g. ", "")), f"one sentence: {line}"


def test_messages_cite_only_what_students_have() -> None:
    """Hints may point at the notebooks and the package, never at the repository's notes or tests."""
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for literal in re.findall(r'"[^"\n]*"', text):
            assert not re.search(r"REFERENCES|STYLE|\.md\b|tests/", literal), f"{path.name}: {literal}"


def test_checker_names_and_docstrings() -> None:
    """The four historical checkers keep their names; every public function has a type-hinted signature and a docstring."""
    assert {"check_solarize", "check_projector", "check_loss", "check_ema"} <= set(CHECKERS)
    assert set(dir(exercises)) >= set(CHECKERS)
    for name in CHECKERS:
        fn = getattr(exercises, name)
        assert fn.__doc__ and fn.__doc__.strip().count("\n") == 0, name
        assert fn.__wrapped__.__annotations__, name
    with pytest.raises(AttributeError):
        exercises.check_nothing  # noqa: B018


def test_importing_one_checker_loads_only_its_chapter() -> None:
    """`from byol_course.exercises import check_ema` imports chapter 4's module and nothing of chapter 5."""
    code = (
        "import sys; from byol_course.exercises import check_ema; "
        "print(sorted(m for m in sys.modules if m.startswith('byol_course')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(ast.literal_eval(out.strip()))
    assert "byol_course.exercises.ema" in loaded
    assert not loaded & {"byol_course.exercises.train", "byol_course.train", "byol_course.exercises.objective"}, loaded


# A stem names both the package module and its checkers; "evaluate" is chapter 5's module and chapter 8's checkers.
CHAPTER = {"course": 0, "language": 0, "data": 0, "embedded": 0, "visualize": 0, "augment": 1, "networks": 2, "objective": 3, "ema": 4, "train": 5,
           "optim": 5, "review": 6, "fixes": 6, "lars": 7, "evaluate": 8, "lab": 9, "dynamics": 10}


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_a_chapter_module_imports_only_its_own_or_earlier_chapters(path: Path) -> None:
    """exercises/<chapter>.py may import package modules of its chapter or before, and no private name of another module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = CHAPTER.get(path.stem, 0)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            target = (node.module or "").split(".")[0]
            if node.level == 2 or target not in ("common", "messages", ""):  # ..module (the package) or a sibling chapter
                names = [target] if node.module else [a.name for a in node.names]
                for name in names:
                    assert CHAPTER.get(name, 99) <= own, f"{path.name} imports chapter {CHAPTER.get(name)} module {name}"
            assert not any(a.name.startswith("_") for a in node.names), f"{path.name} imports a private name"
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 350, f"{path.name} is over ~350 lines"


def test_not_written_names_who_is_not_written() -> None:
    """A stub is 'not written yet'; a written function that calls an unsolved exercise, or a module without
    forward, is told what really happened (call() is what every checker runs the student's code through)."""
    import torch
    import torch.nn as nn

    from byol_course.exercises.common import NotWritten, Raised, call

    def my_first(x):
        raise NotImplementedError

    def my_second(x):
        return my_first(x) + 1

    @torch.no_grad()
    def my_decorated(x):
        raise NotImplementedError

    class NoForward(nn.Module):
        def forwad(self, x):  # a typo: nn.Module's own forward raises NotImplementedError
            return x

    assert isinstance(call(my_first, 1).problem, NotWritten)
    assert isinstance(call(my_decorated, 1).problem, NotWritten)  # a decorated stub is still the stub
    told = call(my_second, 1).problem
    assert isinstance(told, Raised) and "calls my_first(), which is still not written" in told
    told = call(lambda x: NoForward()(x), torch.zeros(1)).problem
    assert isinstance(told, Raised) and "has no forward method" in told
