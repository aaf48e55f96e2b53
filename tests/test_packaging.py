"""The repository's set-up files agree with each other and with the README."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip() -> list[str]:
    """The pip requirements listed in environment.yml (a tiny parser: no YAML dependency)."""
    reqs, in_pip = [], False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip and stripped.startswith("- "):
            reqs.append(stripped[2:].strip().strip('"').strip("'"))
        elif in_pip and stripped and not stripped.startswith("#"):
            in_pip = False
    return reqs


# Extras that environment.yml leaves out on purpose, with the reason. A new extra must be added
# to environment.yml or here: the two files cannot drift apart silently.
NOT_IN_ENVIRONMENT_YML = {
    "browser": "Playwright, for `make test-browser` only (CI and maintainers, with Debian's Chromium): students never need it",
}


def test_environment_yml_matches_pyproject() -> None:
    """conda users get exactly the dependencies (and ranges) that pip users get, test extras included."""
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + [r for name, reqs in extras.items() if name not in NOT_IN_ENVIRONMENT_YML for r in reqs]
    env = sorted(r for r in _environment_pip() if not r.startswith("-e"))
    assert env == sorted(wanted)
    assert "-e ." in _environment_pip()


def test_left_out_extras_exist_and_stay_out() -> None:
    """The extras environment.yml skips are real extras, and none of their packages slipped in."""
    extras = _pyproject()["project"]["optional-dependencies"]
    env_names = {_name(r) for r in _environment_pip()}
    for name in NOT_IN_ENVIRONMENT_YML:
        assert name in extras, f"NOT_IN_ENVIRONMENT_YML names an extra pyproject.toml no longer has: {name}"
        assert not env_names & {_name(r) for r in extras[name]}


def test_torch_ranges_admit_this_machine_and_colab() -> None:
    """torch 2.14.1 / torchvision 0.29.1 (this machine) and Colab's torch 2.x are inside the declared ranges."""
    deps = {_name(d): d for d in _pyproject()["project"]["dependencies"]}
    from packaging.specifiers import SpecifierSet

    torch_spec = SpecifierSet(deps["torch"][len("torch") :])
    vision_spec = SpecifierSet(deps["torchvision"][len("torchvision") :])
    for v in ("2.14.1", "2.5.1", "2.9.0"):
        assert v in torch_spec
    for v in ("0.29.1", "0.20.1", "0.24.0"):
        assert v in vision_spec


def test_course_dependencies_are_declared() -> None:
    """Every dependency the project promises is declared."""
    names = {_name(d) for d in _pyproject()["project"]["dependencies"]}
    names |= {_name(d) for d in _pyproject()["project"]["optional-dependencies"]["test"]}
    for needed in ("torch", "torchvision", "jupyterlab", "matplotlib", "scikit-learn", "ipywidgets", "nbval", "umap-learn", "tqdm"):
        assert needed in names


def test_ci_runs_make_test_and_readme_shows_the_two_commands() -> None:
    """.ci/run calls `make test` and then `make test-browser`; the README's quick start shows `make demo` and `make test`."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test\n" in ci and "make test-browser" in ci
    assert ci.index("make test\n") < ci.index("make test-browser")
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
