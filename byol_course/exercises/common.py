"""What every checker shares: calling the student's function safely, comparing tensors, the verdict line.

A checker is a function `check_x(fn) -> bool` decorated with `@checker("x")`. Its body
returns None when `fn` is right, or ONE sentence that names the mistake and the fix, or a
`Right("…")` when `fn` is right in another way than the reference (another sound choice, said
in one sentence). The decorator prints `✓ x: matches the reference.`, `✓ x: <sentence>` or
`✗ x: <sentence>` and returns the bool,
and it guarantees the promises of every checker: it never raises, it leaves torch's global
random state and grad mode as they were, and only its verdict line is printed.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import traceback
from dataclasses import dataclass
from types import CodeType
from typing import Any, Callable

import torch

from .messages import say

__all__ = [
    "NOT_WRITTEN",
    "Malformed",
    "NotWritten",
    "Outcome",
    "Raised",
    "Right",
    "call",
    "checker",
    "close",
    "describe",
    "effective_tau",
    "first_match",
    "referenced_names",
    "tensor_problem",
]

NOT_WRITTEN = "not written yet: replace the `raise NotImplementedError` with your code and run the cell again."
# Grading tells these kinds of diagnosis apart (grading.py): a stub, a crash, a wrong kind of result, a wrong value.

_UINT8 = "the network got the uint8 images: make the float views first, x1, x2 = views(images), and feed those."

# Error messages whose cause a TA recognises at once, and the sentence that explains it.
_KNOWN_ERRORS = (
    ("pic should be", "transforms.ToTensor() converts one PIL image, not a batch tensor: "
     "build the views from the package's batched ops on the uint8 batch."),
    ("leaf Variable that requires grad is being used in an in-place operation",
     "an in-place update of a parameter that requires grad needs torch.no_grad(): "
     "decorate the function with @torch.no_grad()."),
    ("can only change requires_grad flags of leaf variables",
     "requires_grad_(False) only works on leaf tensors such as parameters: "
     "stop the gradient with .detach() or torch.no_grad() instead."),
    ("Trying to backward through the graph a second time",
     "backward() ran twice through the same graph: call loss.backward() once per step."),
    ("is not a Module subclass", "nn.Sequential takes the layers as separate arguments, "
     "nn.Sequential(a, b, c), not a list (or unpack it: nn.Sequential(*layers))."),
    ("Input type (unsigned char)", _UINT8),
    ("expected scalar type Byte", _UINT8),
    ("'list' object has no attribute 'parameters'", "ema_update_(target, online, tau) takes one module of each, not the lists: "
     "loop over the pairs, for target, online in zip(net.target_modules(), net.online_modules()): ema_update_(target, online, tau)."),
    ("'tuple' object has no attribute 'parameters'", "ema_update_(target, online, tau) takes one module of each, not a tuple of them: "
     "loop over the pairs, for target, online in zip(net.target_modules(), net.online_modules()): ema_update_(target, online, tau)."),
    ("'zip' object has no attribute 'parameters'", "ema_update_(target, online, tau) takes one target module and its online module: "
     "loop over the zip, for target, online in zip(net.target_modules(), net.online_modules()): ema_update_(target, online, tau)."),
    ("result type Float can't be cast to the desired output type Long",
     "num_batches_tracked is an integer buffer: average only floating-point buffers "
     "(buffer.is_floating_point()) and copy the integer ones."),
)


class Right(str):
    """A checker's verdict for an answer that is right but differs from the reference by a sound choice: says which."""


class NotWritten(str):
    """The diagnosis of a function that is still the stub (it raised NotImplementedError)."""


class Raised(str):
    """The diagnosis of a function that raised an exception on the checker's inputs."""


class Malformed(str):
    """The diagnosis of a function that ran but returned the wrong kind of thing (type, shape, dtype)."""


@dataclass
class Outcome:
    """What calling the student's function gave: its value, or the sentence saying why there is none."""

    value: Any = None
    problem: str | None = None


def call(fn: Callable, *args: Any) -> Outcome:
    """Call fn(*args) with its prints swallowed; an exception becomes a sentence, never propagates."""
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return Outcome(fn(*args))
        except NotImplementedError as e:
            return Outcome(problem=_not_implemented(fn, e))
        except (Exception, SystemExit) as e:  # noqa: BLE001 — the student's code may fail in any way
            return Outcome(problem=Raised(_explain(e)))


def _not_implemented(fn: Callable, e: NotImplementedError) -> str:
    """NotWritten when the stub itself raised; otherwise say who did: an earlier exercise's stub it calls, or torch."""
    frames = list(traceback.walk_tb(e.__traceback__))
    code = frames[-1][0].f_code if frames else None  # the function that raised
    own = getattr(inspect.unwrap(fn), "__code__", None) if callable(fn) else None
    if code is None or own is None or code is own:
        return NotWritten(NOT_WRITTEN)
    if code.co_name == "_forward_unimplemented":  # torch: a Module subclass without forward
        return Raised("a module you built has no forward method: define forward(self, x) in its class "
                      "(indented inside the class, spelled forward).")
    if "site-packages" in code.co_filename or "/torch/" in code.co_filename:
        return Raised(_explain(e))
    return Raised(f"your function calls {code.co_name}(), which is still not written: finish that exercise first "
                  f"(or call the package's version of it meanwhile).")


def _explain(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    for needle, sentence in _KNOWN_ERRORS:
        if needle in str(e):
            return sentence
    text = text if len(text) <= 120 else text[:117] + "..."
    said = f" ({text.rstrip('.')})" if text else ""
    return f"your function raised {type(e).__name__}{said}; call it yourself on the inputs the docstring describes to see the line that fails."


def describe(value: Any) -> str:
    """A short name for what the student returned: 'None', 'a float', 'a tensor of shape (4,)'."""
    if value is None:
        return "None"
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    name = type(value).__name__
    return f"an {name}" if name[0].lower() in "aeiou" else f"a {name}"


def tensor_problem(value: Any, shape: tuple[int, ...], what: str, floating: bool = True) -> str | None:
    """None if value is a finite tensor of this shape (and a float dtype), else the sentence saying what is wrong."""
    if not isinstance(value, torch.Tensor):
        return Malformed(f"it returned {describe(value)}: return {what} as a tensor of shape {shape}.")
    if tuple(value.shape) != tuple(shape):
        return Malformed(f"it returned {describe(value)}: {what} should have shape {tuple(shape)}.")
    if floating and not value.is_floating_point():
        return Malformed(f"it returned {describe(value)}: {what} should be floating point.")
    if value.is_floating_point() and not torch.isfinite(value).all():
        return f"it returned NaN or infinite values: {what} should be finite for these ordinary inputs."
    return None


def close(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """True when a and b are tensors (or numbers, or equal-length tuples of them) equal within tolerance; never raises."""
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(close(x, y, atol, rtol) for x, y in zip(a, b)))
    try:
        a = torch.as_tensor(a, dtype=torch.float64) if not isinstance(a, torch.Tensor) else a.detach().double()
        b = torch.as_tensor(b, dtype=torch.float64) if not isinstance(b, torch.Tensor) else b.detach().double()
        return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=rtol))
    except (TypeError, RuntimeError, ValueError):
        return False


def effective_tau(new: list[torch.Tensor], old: list[torch.Tensor], online: list[torch.Tensor]) -> float | None:
    """The τ of an update old → new that was a plain EMA towards `online` (ξ' = τ·ξ + (1 − τ)·θ), else None."""
    try:
        xi1, xi0, theta = (torch.cat([t.detach().double().flatten() for t in ts]) for ts in (new, old, online))
    except (RuntimeError, TypeError):
        return None
    gap = theta - xi0
    keep = gap.abs() > 1e-3
    if keep.sum() < 10:
        return None
    taus = 1 - (xi1 - xi0)[keep] / gap[keep]  # τ = 1 − (ξ' − ξ) / (θ − ξ)
    tau = taus.median()
    return float(tau) if (taus - tau).abs().max() < 1e-4 and 0 <= tau <= 1 else None


def _code_names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def referenced_names(fn: Any) -> set[str]:
    """Every global and attribute name fn's code (and the code nested in it) refers to; empty for a non-function."""
    code = getattr(inspect.unwrap(fn) if callable(fn) else fn, "__code__", None)
    return _code_names(code) if isinstance(code, CodeType) else set()


def first_match(value: Any, candidates: list[tuple[Callable[[], Any], str]], atol: float = 1e-5) -> str | None:
    """The sentence of the first candidate (a known wrong answer) whose value equals `value`, else None."""
    for make, sentence in candidates:
        if close(value, make(), atol=atol):
            return sentence
    return None


def checker(name: str) -> Callable[[Callable[..., str | None]], Callable[..., bool]]:
    """Turn a diagnosis function (None = right, str = the mistake) into a checker that prints and returns a bool.

    The checker keeps the diagnosis, safely run, as `check.verdict(fn, variant=0)` (None or a sentence, never
    printed, never raised) and its name as `check.title`: grading.py raises the same sentence as a failing test.
    Every diagnosis takes `variant`: 0 is the inputs the notebook's checker shows, 1 and 2 other inputs (the
    hidden tests of a graded assignment).
    """

    def wrap(diagnose: Callable[..., str | None]) -> Callable[..., bool]:
        def verdict(*args: Any, **kwargs: Any) -> str | None:
            grad_mode, threads = torch.is_grad_enabled(), torch.get_num_threads()
            # The inputs are tiny: one thread is as fast, and on a busy machine OpenMP's threads, each waiting
            # for the other at every op, made one diagnosis take seconds (benchmarks/checker_latency.py).
            torch.set_num_threads(1)
            try:
                with torch.random.fork_rng(devices=[]):  # the notebook's random stream is left as it was
                    return diagnose(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 — a checker never raises, even on its own bug
                return f"the checker could not finish ({type(e).__name__}: {e}); restart the kernel and run the cells above again."
            finally:
                torch.set_grad_enabled(grad_mode)  # the student's code may have switched it off
                torch.set_num_threads(threads)

        @functools.wraps(diagnose)
        def check(*args: Any, **kwargs: Any) -> bool:
            problem = verdict(*args, **kwargs)
            if problem is None or isinstance(problem, Right):
                print(f"✓ {say(name)}: {say(problem or 'matches the reference.')}")
                return True
            print(f"✗ {say(name)}: {say(problem)}")
            return False

        check.verdict, check.title = verdict, name  # type: ignore[attr-defined]
        return check

    return wrap
