"""`make demo` on real photos: a class-balanced subset of the CIFAR-10 JPEGs, through the same CLI.

    python benchmarks/cifar_jpeg_demo.py [--zips ../shared/data] [--per-class 1000 --test-per-class 200]

Unzips the first N images of every class of `cifar10-jpg-{train,test}.zip` (sorted by file name:
the same subset on every machine) into a folder outside the repository, runs
`python -m byol_course demo --dataset folder:THAT --out runs/cifar10-jpeg-demo` (the classroom recipe,
BYOL against raw pixels, the random-init network and the supervised bound), and copies the run's
metrics (no images) into benchmarks/results/cifar_jpeg_demo.json with the subset and the wall time.
The images are never committed; the zips are described in ../shared/data/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def extract_subset(archive: Path, split: str, per_class: int, into: Path) -> int:
    """The first per_class files of every class of split in archive, written to into/split/<class>/; returns how many."""
    with zipfile.ZipFile(archive) as z:
        by_class: dict[str, list[str]] = defaultdict(list)
        for name in sorted(z.namelist()):
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == split and parts[2].lower().endswith(".jpg"):
                by_class[parts[1]].append(name)
        if len(by_class) != 10:
            raise SystemExit(f"{archive} should hold {split}/<class>/*.jpg for the 10 CIFAR-10 classes; found {len(by_class)} classes.")
        n = 0
        for cls, names in by_class.items():
            if len(names) < per_class:
                raise SystemExit(f"{archive}: class {cls} has {len(names)} {split} images, fewer than --per-class {per_class}.")
            folder = into / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for name in names[:per_class]:
                (folder / Path(name).name).write_bytes(z.read(name))
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zips", default=str(ROOT.parent / "shared" / "data"), help="folder with cifar10-jpg-{train,test}.zip")
    ap.add_argument("--per-class", type=int, default=1000, help="training images per class (default: 10,000 in all, as the embedded set)")
    ap.add_argument("--test-per-class", type=int, default=200, help="test images per class (default: 2,000 in all)")
    ap.add_argument("--out", default="runs/cifar10-jpeg-demo")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "cifar_jpeg_demo.json"))
    a = ap.parse_args(argv)
    zips = Path(a.zips)
    missing = [p for p in (zips / "cifar10-jpg-train.zip", zips / "cifar10-jpg-test.zip") if not p.exists()]
    if missing:
        raise SystemExit(f"{', '.join(map(str, missing))} not found: pass --zips with the folder that holds the CIFAR-10 JPEG zips.")
    with tempfile.TemporaryDirectory(prefix="cifar10-subset-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        n_train = extract_subset(zips / "cifar10-jpg-train.zip", "train", a.per_class, folder)
        n_test = extract_subset(zips / "cifar10-jpg-test.zip", "test", a.test_per_class, folder)
        unzip_seconds = time.perf_counter() - t
        command = [sys.executable, "-m", "byol_course", "demo", "--dataset", f"folder:{folder}", "--out", a.out, "--no-progress"]
        t = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT)
        demo_seconds = time.perf_counter() - t
    metrics = json.loads((ROOT / a.out / "metrics.json").read_text())
    metrics.pop("history", None)
    record = {
        "command": "python benchmarks/cifar_jpeg_demo.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "subset": {"train_per_class": a.per_class, "test_per_class": a.test_per_class, "train": n_train, "test": n_test,
                   "rule": "the first N files of every class, sorted by name"},
        "unzip_seconds": unzip_seconds,
        "demo_seconds": demo_seconds,
        "metrics": metrics,
    }
    path = Path(a.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(record, indent=1))
    tmp_path.replace(path)  # never a half-written results file
    print(f"wrote {path}: demo {demo_seconds:.0f} s after {unzip_seconds:.0f} s of unzipping")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
