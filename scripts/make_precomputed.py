"""Package finished collapse-lab runs as the course's precomputed results (byol_course/precomputed/collapse-<mode>/).

    python -m byol_course collapse --mode classroom --out runs/lab-classroom            # the default suite (~19 min, 2 cores)
    python -m byol_course collapse --mode classroom --out runs/lab-classroom-more \\
        --experiments group_norm_ws,no_weight_decay,crop_only,small_batch --seeds 0      # chapter 9's RUN_MORE set
    python scripts/make_precomputed.py --mode classroom runs/lab-classroom/cache runs/lab-classroom-more/cache

Each run's result.json is copied as result.json.gz (metrics, histories, UMAP and projection
coordinates: no checkpoint), after checking its lab version, its key and its checksum; MANIFEST.json records the commands, date, machine, versions and each
file's sha256. The old folder is replaced only once the new one is complete.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from byol_course.collapse import LAB_VERSION
from byol_course.collapse.store import PRECOMPUTED, checksum

COMMANDS = [" ".join(cmd.split()) for cmd in __doc__.split("\n\n")[1].replace("\\\n", " ").strip().splitlines()]


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package(caches: list[Path], mode: str) -> Path:
    """Write PRECOMPUTED/collapse-<mode> from the result.json files of the given caches; returns the folder."""
    target = PRECOMPUTED / f"collapse-{mode}"
    files, seen = [], {}
    with tempfile.TemporaryDirectory(dir=PRECOMPUTED.parent) as tmp:
        out = Path(tmp) / target.name
        for cache in caches:
            for path in sorted(cache.glob("*/result.json")):
                result = json.loads(path.read_text())
                key = path.parent.name.rsplit("-", 1)[1]
                if result.get("lab_version") != LAB_VERSION or result.get("key") != key:
                    sys.exit(f"{path}: lab version {result.get('lab_version')} or key {result.get('key')} is not this course's "
                             f"({LAB_VERSION}, {key}): run the lab again with this version.")
                if result.get("sha256") not in (None, checksum(result)):
                    sys.exit(f"{path} was edited after the lab wrote it (checksum mismatch).")
                if key in seen:
                    continue
                for field in ("cached", "source"):
                    result.pop(field, None)
                entry = out / path.parent.name / "result.json.gz"
                entry.parent.mkdir(parents=True)
                data = gzip.compress(json.dumps(result).encode(), mtime=0)
                entry.write_bytes(data)
                seen[key] = entry
                files.append({"path": str(entry.relative_to(out)), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                              "name": result["name"], "seed": result["config"]["train"]["seed"], "date": result.get("date"),
                              "hardware": result.get("hardware")})
        manifest = {
            "what": f"finished collapse-lab runs, {mode} mode: metrics, histories, UMAP and projection coordinates (no checkpoints)",
            "lab_version": LAB_VERSION, "commands": COMMANDS, "commit": _git_commit(), "packaged": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {platform.platform()}; the runs: {sorted({f['hardware'] for f in files})}",
            "torch": torch.__version__, "python": platform.python_version(), "runs": len(files),
            "bytes": sum(f["bytes"] for f in files), "files": files,
        }  # fmt: skip
        (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
        old = target.with_name(target.name + ".old")
        if target.exists():
            target.rename(old)
        shutil.move(str(out), target)
        shutil.rmtree(old, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="classroom", choices=("smoke", "classroom", "full"))
    parser.add_argument("caches", nargs="+", type=Path, help="lab cache folders (<out>/cache of `python -m byol_course collapse`)")
    args = parser.parse_args(argv)
    target = package(args.caches, args.mode)
    manifest = json.loads((target / "MANIFEST.json").read_text())
    print(f"{target}: {manifest['runs']} runs, {manifest['bytes'] / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
