"""A fresh virtual environment that sees only torch, torchvision and their dependencies (for `make gpu-rehearsal`).

The device machine comes with torch and torchvision (and more); everything else the GPU check
needs travels as wheels. To rehearse that here, the check must run in an environment where
nothing else is importable, so that a missing dependency fails here and not on the device.

Installing torch afresh costs gigabytes and minutes, so the environment borrows the course
environment's own torch instead, honestly: this script computes the dependency closure of
torch and torchvision from their installed metadata (markers and extras evaluated as pip
would), links exactly those distributions' files (and their .dist-info) into a folder, and
points a new `python -m venv` (no system site-packages) at that folder with a .pth file.
Then it checks from inside the new interpreter that the distributions it can see are that
closure plus pip, and that a package outside it (tqdm, which the course needs) is not there.

    python benchmarks/torch_only_env.py --venv /tmp/byol-rehearsal/venv [--farm DIR] [--with NAME ...]

--with adds the named distributions (those installed; each alone, not its dependencies): the
rehearsal uses it for stand-ins of the device image's own packages when their wheels
(.whl-host/) are not there, as in CI's fresh clone.

Run it with the course's interpreter (whose torch is borrowed). stdlib only.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
except ImportError:  # pip always vendors it
    from pip._vendor.packaging.markers import default_environment  # type: ignore[no-redef]
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]

ROOTS = ("torch", "torchvision")


def norm(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: tuple[str, ...] = ROOTS) -> dict[str, md.Distribution]:
    """The installed distributions that `pip install <roots>` brings in (markers and extras evaluated)."""
    installed: dict[str, md.Distribution] = {}
    for d in md.distributions():
        installed.setdefault(norm(d.metadata["Name"]), d)
    seen: dict[str, md.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo: list[tuple[str, str]] = [(norm(r), "") for r in roots]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in done:
            continue
        done.add((name, extra))
        if name not in installed:
            raise SystemExit(f"{name} is required by torch/torchvision but not installed in {sys.executable}.")
        dist = seen.setdefault(name, installed[name])
        for line in dist.requires or []:
            req = Requirement(line)
            env = default_environment()
            env["extra"] = extra
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            if req.marker is None and extra:  # already taken with the plain requirements
                continue
            todo.append((norm(req.name), ""))
            todo.extend((norm(req.name), norm(e)) for e in req.extras)
    return seen


def build_farm(dists: dict[str, md.Distribution], farm: Path) -> None:
    """farm/: a link for every file (or whole top-level folder, where only these distributions own it)."""
    owners: dict[str, set[str]] = {}
    for d in md.distributions():
        owner = norm(d.metadata["Name"])  # parsed once per distribution, not per file
        for top in {f.parts[0] for f in d.files or []} - {".."}:
            owners.setdefault(top, set()).add(owner)
    if farm.exists():
        shutil.rmtree(farm)
    farm.mkdir(parents=True)
    ours = set(dists)
    for d in dists.values():
        for f in d.files or []:
            if f.parts[0] == ".." or f.suffix == ".pyc":
                continue
            top = f.parts[0]
            src = Path(d.locate_file(f))
            if owners.get(top, set()) <= ours:  # the whole top-level entry belongs to the closure
                link = farm / top
                if not link.exists() and not link.is_symlink():
                    target = Path(d.locate_file(top))
                    if target.exists():
                        link.symlink_to(target)
                continue
            dst = farm / f
            if dst.exists() or dst.is_symlink() or not src.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)


CHECK = r"""
import importlib.metadata as md, importlib.util, json, re, sys
names = sorted({re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in md.distributions()})
print(json.dumps({"python": sys.version.split()[0], "executable": sys.executable, "distributions": names,
                  "tqdm_importable": importlib.util.find_spec("tqdm") is not None,
                  "torch": __import__("torch").__version__, "torchvision": __import__("torchvision").__version__}))
"""


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--venv", required=True, help="the environment to create (replaced if it exists)")
    p.add_argument("--farm", default=None, help="where the links go (default: VENV/../torch-only-site)")
    p.add_argument("--json", default=None, help="write what the new interpreter sees here")
    p.add_argument("--with", dest="extra", nargs="*", default=[], help="more distributions to link, where installed")
    args = p.parse_args(argv)
    venv = Path(args.venv).resolve()
    farm = Path(args.farm) if args.farm else venv.parent / "torch-only-site"
    dists = closure()
    installed = {norm(d.metadata["Name"]): d for d in md.distributions()}
    added = sorted(n for n in map(norm, args.extra) if n in installed and n not in dists)
    dists.update({n: installed[n] for n in added})
    build_farm(dists, farm)
    if venv.exists():
        shutil.rmtree(venv)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # a 3.11 venv also gets ensurepip's setuptools; torch's own (linked above) is the one to see
    subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=False,
                   env={**os.environ, "PIP_NO_INDEX": "1"})
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_torch_only.pth").write_text(f"import site; site.addsitedir({str(farm.resolve())!r})\n")
    # from a neutral folder: a checkout's byol_course.egg-info (left by `pip install -e .`) must not count
    seen = json.loads(subprocess.run([str(py), "-c", CHECK], check=True, capture_output=True, text=True, cwd=venv.parent,
                                     env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout)
    allowed = set(dists) | {"pip"}
    extra = sorted(set(seen["distributions"]) - allowed)
    missing = sorted(set(dists) - set(seen["distributions"]))
    if extra or missing or (seen["tqdm_importable"] and "tqdm" not in added):
        raise SystemExit(f"the new environment is not torch-only: extra {extra}, missing {missing}, "
                         f"tqdm importable: {seen['tqdm_importable']}")
    report = {**seen, "closure_of": list(ROOTS), "added": added, "borrowed_from": sys.executable, "farm": str(farm)}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"torch-only environment {venv}: python {seen['python']}, torch {seen['torch']}, torchvision "
          f"{seen['torchvision']}, {len(seen['distributions'])} distributions (the closure of torch and torchvision, and pip"
          + (f"; and, standing in for the device image, {', '.join(added)})" if added else ")"))
    return report


if __name__ == "__main__":
    main()
