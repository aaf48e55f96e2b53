"""Install what the GPU check needs and this interpreter lacks, from carried wheels only (no registry).

The first step of benchmarks/gpu_check.sh, on the bare device machine and in the rehearsal
here alike. It reads benchmarks/gpu_wheels.txt (every distribution the check imports beyond
torch and torchvision, pinned, each marked `device` — the device image lacks it, its wheel
travels in .whl/ — or `image` — the device image has it). It installs, with
`pip install --no-index --no-deps --target SITE` (never a registry, never torch), every `device`
distribution this interpreter lacks in exactly the pinned version (SITE comes first on
PYTHONPATH, so the pinned one wins over another version there), and every `image` one it
lacks in any version (the image's own version is used where there is one).

    python3 benchmarks/install_wheels.py --target /tmp/site [--wheels .whl] [--host-wheels .whl-host] --report FILE

- a missing `device` distribution comes from --wheels (.whl/); its file must be there by name
  (the rehearsal checks this too, so a wheel left out of .whl/ fails here, not on the device);
- a missing `image` distribution comes from --host-wheels (.whl-host/) in the rehearsal;
  on the device (no --host-wheels) it is an error: the image no longer has what KINDS.md
  listed, and its wheel must be added to .whl/.
Errors are recorded in the report and the exit status is 0, so that the check goes on without
what failed (the peers are then skipped); --strict exits 1 on any error. stdlib only.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import re
import subprocess
import sys
import time
from pathlib import Path

LOCK = Path(__file__).with_name("gpu_wheels.txt")


def norm(name: str) -> str:
    """PEP 503 normalised name (wheel file names use underscores: compare normalised)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> list[dict[str, str]]:
    """Lines `name==version  device|image` (comments after #)."""
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, where, *_ = line.split()
        name, version = spec.split("==")
        if where not in ("device", "image"):
            raise SystemExit(f"{path}: {raw!r}: the second column must be device or image")
        out.append({"name": norm(name), "version": version, "where": where})
    return out


def wheel_file(folder: Path, name: str, version: str) -> Path | None:
    """The wheel for name==version in folder (any tags), or None."""
    if not folder.is_dir():
        return None
    for f in sorted(folder.glob("*.whl")):
        parts = f.name[:-4].split("-")
        if len(parts) >= 5 and norm(parts[0]) == name and parts[1] == version:
            return f
    return None


def installed_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def pip_install(specs: list[str], target: Path, folders: list[Path]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
           "--no-cache-dir", "--disable-pip-version-check", "--upgrade", "--target", str(target)]
    for f in folders:
        cmd += ["--find-links", str(f)]
    return subprocess.run(cmd + specs, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="where the wheels go (put it on PYTHONPATH afterwards)")
    p.add_argument("--wheels", default=".whl", help="the wheels that travel to the device (default .whl)")
    p.add_argument("--host-wheels", default=None, help="rehearsal only: wheels standing in for the device image")
    p.add_argument("--lock", default=str(LOCK))
    p.add_argument("--report", default=None, help="write what was found, installed and failed here (JSON)")
    p.add_argument("--strict", action="store_true", help="exit 1 on any error (the rehearsal)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    wheels, host = Path(args.wheels), Path(args.host_wheels) if args.host_wheels else None
    report: dict = {"python": sys.version.split()[0], "executable": sys.executable, "target": args.target,
                    "wheels": str(wheels), "host_wheels": str(host) if host else None,
                    "present": {}, "installed": {}, "errors": []}
    todo: list[tuple[dict[str, str], Path]] = []
    for entry in read_lock(Path(args.lock)):
        name, version, where = entry["name"], entry["version"], entry["where"]
        have = installed_version(name)
        if have is not None and (where == "image" or have == version):
            report["present"][name] = have
            continue
        if have is not None:
            report.setdefault("shadowed", {})[name] = f"{have} there, {version} installed over it"
        if where == "device":
            f = wheel_file(wheels, name, version)
            if f is None:
                report["errors"].append(f"{name}=={version}: no wheel in {wheels}/ (run `make gpu-prepare` where pip reaches PyPI)")
                continue
            todo.append((entry, f))
        elif host is None:
            report["errors"].append(
                f"{name}: missing, though the device image listed it (benchmarks/device_image.txt); "
                f"mark it `device` in {Path(args.lock).name} and run `make gpu-prepare` to carry its wheel"
            )
        else:
            f = wheel_file(host, name, version)
            if f is None:
                report["errors"].append(f"{name}=={version}: no wheel in {host}/ (run `make gpu-prepare`)")
                continue
            todo.append((entry, f))
    folders = [wheels] + ([host] if host else [])
    target = Path(args.target)
    target.mkdir(parents=True, exist_ok=True)
    if todo:
        specs = [f"{e['name']}=={e['version']}" for e, _ in todo]
        done = pip_install(specs, target, folders)
        if done.returncode == 0:
            report["installed"] = {e["name"]: f.name for e, f in todo}
        else:  # one at a time, so that one bad wheel does not keep the others out
            for e, f in todo:
                one = pip_install([f"{e['name']}=={e['version']}"], target, folders)
                if one.returncode == 0:
                    report["installed"][e["name"]] = f.name
                else:
                    last = (one.stderr.strip().splitlines() or ["pip failed"])[-1]
                    report["errors"].append(f"{e['name']}=={e['version']}: pip could not install {f.name}: {last}")
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wheels: {len(report['present'])} present, {len(report['installed'])} installed into {target}, "
          f"{len(report['errors'])} errors ({report['seconds']} s)")
    for e in report["errors"]:
        print(f"  error: {e}")
    return report


if __name__ == "__main__":
    r = main()
    if r["errors"] and "--strict" in sys.argv:
        sys.exit(1)
