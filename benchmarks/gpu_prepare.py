"""Prepare what the GPU check carries to a bare device machine, and measure what travels.

    python benchmarks/gpu_prepare.py            # make gpu-prepare: the locked wheels and the CIFAR-10 zips
    python benchmarks/gpu_prepare.py --update   # first re-resolve benchmarks/gpu_requirements.in into the lock

The device machine (see benchmarks/device_image.txt) has Python 3.12 with torch and
torchvision and many packages, but no registry; what travels with a `run` call is the working
tree plus up to 8 git-ignored paths, 64 MiB in all. This script fills three ignored folders:

- .whl/       wheels for Python 3.12, manylinux x86_64, of what the device image lacks (the
              `device` lines of benchmarks/gpu_wheels.txt): this one travels;
- .whl-host/  wheels for this interpreter of what the image has but a torch-only environment
              lacks (the `image` lines): only the rehearsal here installs them, it never travels;
- .cifar10/   the CIFAR-10 JPEG zips (from ../shared/data): travels. If the whole tree would
              not fit in 64 MiB with them, the training zip is replaced by a class-balanced
              subset that fits, and the report says so.

--update resolves gpu_requirements.in with pip's resolver inside a fresh torch-only
environment (benchmarks/torch_only_env.py), so the lock holds exactly what such an
environment lacks, with the device image's known versions as constraints. Needs PyPI;
the rest needs it only for wheels not downloaded yet. Run it with the course's interpreter.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCK = HERE / "gpu_wheels.txt"
REQUIREMENTS = HERE / "gpu_requirements.in"
IMAGE = HERE / "device_image.txt"
WHEELS, HOST_WHEELS, DATA = ROOT / ".whl", ROOT / ".whl-host", ROOT / ".cifar10"
ZIPS = ("cifar10-jpg-train.zip", "cifar10-jpg-test.zip")
LIMIT_MIB = 64.0
MARGIN_MIB = 0.75  # room for files a checkout may hold beyond this one's (a notes file, a new test)
DEVICE_PIP = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
              "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_27_x86_64",
              "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
              "--platform", "manylinux1_x86_64"]
# the run command for the device (the `run` tool's command, carry and timeout)
RUN_COMMAND = "bash benchmarks/gpu_check.sh --out $OUT/gpu_check.json"
CARRY = [".whl", ".cifar10"]
RUN_TIMEOUT_S = 600


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_image() -> dict[str, str | None]:
    """The device image's packages: name -> version where known."""
    out: dict[str, str | None] = {}
    for raw in IMAGE.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[norm(name)] = version or None
    return out


def pip(python: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([python, "-m", "pip", "--disable-pip-version-check", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"pip {' '.join(args[:3])} ... failed:\n{done.stderr[-3000:]}")
    return done


# --- the lock --------------------------------------------------------------------------------


def resolve(build: Path) -> list[tuple[str, str, str]]:
    """(name, version, device|image) for everything a torch-only environment needs to install."""
    sys.path.insert(0, str(HERE))
    import torch_only_env

    env = torch_only_env.main(["--venv", str(build / "venv"), "--json", str(build / "env.json")])
    in_env = set(env["distributions"])
    image = read_image()
    constraints = build / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in image.items() if v and n not in in_env))
    report = build / "resolve.json"
    py = str(build / "venv" / "bin" / "python")
    pip(py, "install", "--dry-run", "--quiet", "--report", str(report), "-r", str(REQUIREMENTS), "-c", str(constraints))
    items = json.loads(report.read_text())["install"]
    out = []
    for item in items:
        name, version = norm(item["metadata"]["name"]), item["metadata"]["version"]
        if name in ("torch", "torchvision"):
            raise SystemExit(f"the resolver wants to install {name} {version}: the lock must never hold torch")
        out.append((name, version, "image" if name in image else "device"))
    return sorted(out)


def write_lock(rows: list[tuple[str, str, str]]) -> None:
    head = [
        "# Every distribution benchmarks/gpu_check.sh imports beyond torch and torchvision, pinned (resolved from",
        "# gpu_requirements.in in a torch-only environment by `python benchmarks/gpu_prepare.py --update`).",
        "# device: the device image lacks it; its Python 3.12 wheel travels in .whl/.",
        "# image:  the device image has it (device_image.txt); only the rehearsal installs it, from .whl-host/.",
    ]
    width = max(len(f"{n}=={v}") for n, v, _ in rows) + 2
    LOCK.write_text("\n".join(head + [f"{n}=={v}".ljust(width) + w for n, v, w in rows]) + "\n")


def read_lock() -> list[tuple[str, str, str]]:
    sys.path.insert(0, str(HERE))
    from install_wheels import read_lock as parse

    return [(e["name"], e["version"], e["where"]) for e in parse(LOCK)]


# --- wheels ----------------------------------------------------------------------------------


def fetch(name: str, version: str, folder: Path, device: bool) -> Path:
    """The wheel of name==version in folder: downloaded, or built from the sdist if it must be pure Python."""
    sys.path.insert(0, str(HERE))
    from install_wheels import wheel_file

    found = wheel_file(folder, name, version)
    if found is not None:
        return found
    folder.mkdir(exist_ok=True)
    spec = f"{name}=={version}"
    done = pip(sys.executable, "download", "--quiet", "--no-deps", "-d", str(folder), *(DEVICE_PIP if device else ["--only-binary=:all:"]), spec, check=False)
    found = wheel_file(folder, name, version)
    if done.returncode != 0 or found is None:  # sdist only (antlr4-python3-runtime): build it here
        with tempfile.TemporaryDirectory() as tmp:
            pip(sys.executable, "wheel", "--quiet", "--no-deps", "-w", tmp, spec)
            built = next(Path(tmp).glob("*.whl"))
            if device and not built.name.endswith("-none-any.whl"):
                raise SystemExit(f"{spec} has no wheel for the device and builds only for this machine ({built.name})")
            shutil.move(str(built), folder / built.name)
        found = wheel_file(folder, name, version)
    assert found is not None
    return found


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare_wheels(rows: list[tuple[str, str, str]]) -> dict:
    keep: dict[Path, set[str]] = {WHEELS: set(), HOST_WHEELS: set()}
    for name, version, where in rows:
        if where == "device":
            f = fetch(name, version, WHEELS, device=True)
            keep[WHEELS].add(f.name)
            if not f.name.endswith("-none-any.whl"):  # a binary wheel for 3.12: the rehearsal needs its own build
                keep[HOST_WHEELS].add(fetch(name, version, HOST_WHEELS, device=False).name)
        else:
            keep[HOST_WHEELS].add(fetch(name, version, HOST_WHEELS, device=False).name)
    for folder, names in keep.items():  # stale files from an older lock: two versions of one name break pip
        for f in folder.glob("*.whl") if folder.is_dir() else []:
            if f.name not in names:
                f.unlink()
    return {"device": sorted(keep[WHEELS]), "host": sorted(keep[HOST_WHEELS])}


# --- data and sizes --------------------------------------------------------------------------


def travelling_bytes() -> dict[str, int]:
    """Bytes that a `run` call sends: tracked and untracked-not-ignored files, and each carried folder."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout
    tree = sum((ROOT / p).stat().st_size for p in listed.decode().split("\0") if p and (ROOT / p).is_file())
    sizes = {"working tree (tracked + untracked, not ignored)": tree}
    for c in CARRY:
        sizes[c] = sum(f.stat().st_size for f in (ROOT / c).rglob("*") if f.is_file())
    return sizes


def class_balanced_subset(src: Path, dst: Path, room_bytes: int) -> int:
    """Write the first n images of each class of src into dst, n as large as fits in room_bytes; return n."""
    with zipfile.ZipFile(src) as zf:
        infos = [i for i in zf.infolist() if i.filename.lower().endswith(".jpg")]
        by_class: dict[str, list[zipfile.ZipInfo]] = {}
        for i in sorted(infos, key=lambda i: i.filename):
            by_class.setdefault(i.filename.split("/")[-2], []).append(i)
        per_image = sum(i.compress_size + 100 + 2 * len(i.filename) for i in infos) / len(infos)  # data + headers
        n = min(min(len(v) for v in by_class.values()), int(room_bytes / per_image / len(by_class)))
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as out:
            for files in by_class.values():
                for i in files[:n]:
                    out.writestr(i, zf.read(i), compress_type=i.compress_type)
    return n


def prepare_data(source: Path) -> dict:
    DATA.mkdir(exist_ok=True)
    info: dict = {"source": str(source), "train_subset_per_class": None}
    for z in ZIPS:
        src, dst = source / z, DATA / z
        if not src.is_file():
            raise SystemExit(f"{src} is missing: pass --data DIR holding {', '.join(ZIPS)} (the project's ../shared/data).")
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    sizes = travelling_bytes()
    total = sum(sizes.values())
    limit = int((LIMIT_MIB - MARGIN_MIB) * 2**20)
    if total > limit:  # keep the test split whole (the kNN evaluation); shrink the training split
        train = DATA / ZIPS[0]
        room = train.stat().st_size - (total - limit)
        with tempfile.NamedTemporaryFile(dir=DATA, suffix=".zip", delete=False) as tmp:
            pass
        n = class_balanced_subset(source / ZIPS[0], Path(tmp.name), room)
        os.replace(tmp.name, train)
        info["train_subset_per_class"] = n
        print(f"the whole tree would be {total / 2**20:.1f} MiB: the training zip is now a class-balanced subset, {n} images per class")
    info["files"] = {z: {"bytes": (DATA / z).stat().st_size, "sha256": sha256(DATA / z)} for z in ZIPS}
    return info


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--update", action="store_true", help="re-resolve gpu_requirements.in into gpu_wheels.txt first")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the folder with the CIFAR-10 JPEG zips")
    p.add_argument("--no-data", action="store_true", help="wheels only")
    args = p.parse_args(argv)
    if args.update:
        with tempfile.TemporaryDirectory(prefix="byol-resolve-") as tmp:
            rows = resolve(Path(tmp))
        write_lock(rows)
        print(f"wrote {LOCK.relative_to(ROOT)}: {sum(w == 'device' for *_, w in rows)} device, {sum(w == 'image' for *_, w in rows)} image")
    rows = read_lock()
    image = read_image()
    for name, _, where in rows:  # the lock must agree with the image list
        if (where == "image") != (name in image):
            raise SystemExit(f"{LOCK.name}: {name} is marked {where} but device_image.txt says otherwise; run --update")
    wheels = prepare_wheels(rows)
    data = None
    if not args.no_data:
        if all((Path(args.data) / z).is_file() for z in ZIPS):
            data = prepare_data(Path(args.data))
        else:
            print(f"warning: no CIFAR-10 zips in {args.data}: .cifar10/ not prepared; the device run needs them (--data DIR)")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or None
    manifest = {
        "prepared": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "wheels": {f: {"bytes": (WHEELS / f).stat().st_size, "sha256": sha256(WHEELS / f)} for f in wheels["device"]},
        "host_wheels": wheels["host"],
        "data": data,
    }
    (WHEELS / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    sizes = travelling_bytes()
    total = sum(sizes.values())
    print("what travels with a run call (limit 64 MiB):")
    for k, v in sizes.items():
        print(f"  {k:<52} {v / 2**20:7.2f} MiB")
    print(f"  {'total':<52} {total / 2**20:7.2f} MiB")
    print(f"  (.whl-host/, rehearsal only, does not travel: {sum(f.stat().st_size for f in HOST_WHEELS.glob('*.whl')) / 2**20:.2f} MiB)")
    if total > LIMIT_MIB * 2**20:
        raise SystemExit("over the 64 MiB limit: the run call would be refused")
    print("\nthe device run (the `run` tool's arguments):")
    print(json.dumps({"command": RUN_COMMAND, "carry": CARRY, "timeout_s": RUN_TIMEOUT_S}))
    return {"sizes": sizes, "total": total, "manifest": manifest}


if __name__ == "__main__":
    main()
