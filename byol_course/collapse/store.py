"""Chapter 9 — where finished lab runs come from: the local cache, a class's cache, the course's precomputed runs.

A lab store is a folder of finished runs, `<name>-<key>/result.json` (or `result.json.gz`), the
key being the run's `run_key`. The local cache (`runs/collapse-<mode>`, or the CLI's
`<out>/cache`) is the only store the lab writes to. The others are read-only and are consulted,
in order, before anything is trained:

    1. a class cache: a folder a teacher filled once for the whole class (BYOL_COURSE_LAB_CACHE, or
       the CLI's --cache) — read-only, perhaps owned by someone else: nothing is written, locked or
       created in it;
    2. the course's precomputed runs, shipped in the package (byol_course/precomputed/), with the
       command, date, machine and versions that made them in their MANIFEST.json.

A store that cannot be used (missing, not a lab cache, another lab version) and an entry that is
truncated or edited are each said in one sentence, and the lab goes on with the next source.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .experiments import LAB_VERSION

__all__ = ["CLASS_CACHE_VARIABLE", "PRECOMPUTED", "Store", "StoreWarning", "checksum", "class_cache", "precomputed", "read_sources", "where_from"]

CLASS_CACHE_VARIABLE = "BYOL_COURSE_LAB_CACHE"
PRECOMPUTED = Path(__file__).resolve().parents[1] / "precomputed"
_NAMES = ("result.json", "result.json.gz")


class StoreWarning(UserWarning):
    """A lab store, or one of its entries, that the lab skips: the message says what and what to do."""


def checksum(result: dict[str, Any]) -> str:
    """The sha256 of a result's content, its own `sha256` field and the read-time fields left out."""
    content = {k: v for k, v in result.items() if k not in ("sha256", "cached", "source", "name", "label")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _load(path: Path) -> dict[str, Any]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return json.loads(raw.decode())


@dataclass(frozen=True)
class Store:
    """A read-only folder of finished lab runs."""

    path: Path
    kind: str  # "class cache" | "precomputed"

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}"

    def entries(self) -> list[Path]:
        """The result files it holds."""
        return sorted(p for name in _NAMES for p in self.path.glob(f"*/{name}"))

    def problem(self) -> str | None:
        """Why the lab cannot read this store (one sentence), or None."""
        if not self.path.is_dir():
            return (f"The {self.kind} {self.path} does not exist (or is not a folder): point {CLASS_CACHE_VARIABLE} at the "
                    "`cache` folder of a finished lab run (python -m byol_course collapse --out DIR writes DIR/cache), or unset it.")
        entries = self.entries()
        if not entries:
            return (f"The {self.kind} {self.path} is not a collapse-lab cache (no <run>/result.json in it): point "
                    f"{CLASS_CACHE_VARIABLE} at the `cache` folder of a lab run, not at the run's output folder.")
        versions = set()
        for entry in entries[:5]:
            try:
                versions.add(_load(entry).get("lab_version"))
            except (OSError, ValueError, EOFError):
                continue
        if versions and LAB_VERSION not in versions:
            found = ", ".join(str(v) for v in sorted(versions, key=str))
            return (f"The {self.kind} {self.path} holds runs of lab version {found}, and this course reads version {LAB_VERSION}: "
                    "ask for a cache made with this version of the course (python -m byol_course collapse), or unset "
                    f"{CLASS_CACHE_VARIABLE}.")
        return None

    def result(self, key: str) -> dict[str, Any] | None:
        """The finished run with this key, checked; None when the store does not hold it, or holds a damaged copy."""
        for folder in sorted(self.path.glob(f"*-{key}")):
            for name in _NAMES:
                path = folder / name
                if not path.exists():
                    continue
                try:
                    result = _load(path)
                except (OSError, ValueError, EOFError) as e:
                    warnings.warn(f"{path} is truncated or not JSON ({type(e).__name__}); skipping it: the run comes from the "
                                  "next source. Ask whoever made that cache to run the lab again.", StoreWarning, stacklevel=3)
                    continue
                if result.get("key") != key or ("sha256" in result and result["sha256"] != checksum(result)):
                    warnings.warn(f"{path} was edited after the lab wrote it (its key or checksum does not match); skipping it: "
                                  "the run comes from the next source.", StoreWarning, stacklevel=3)
                    continue
                return result
        return None


def class_cache(path: str | Path | None = None) -> Store | None:
    """The class's read-only cache: `path`, else the folder in BYOL_COURSE_LAB_CACHE; None if neither is set."""
    path = path or os.environ.get(CLASS_CACHE_VARIABLE, "").strip()
    return Store(Path(path).expanduser(), "class cache") if path else None


def precomputed(mode: str) -> Store | None:
    """The course's precomputed runs for a mode, shipped in the package; None where none ship."""
    folder = PRECOMPUTED / f"collapse-{mode}"
    return Store(folder, "precomputed") if folder.is_dir() else None


def read_sources(mode: str, class_folder: str | Path | None = None, use_precomputed: bool = True) -> list[Store]:
    """The read-only stores to consult, in order: the class cache (if set and usable), then the precomputed runs.

    A class cache that cannot be used is said in one sentence (a StoreWarning) and left out.
    """
    stores = []
    for store in (class_cache(class_folder), precomputed(mode) if use_precomputed else None):
        if store is None:
            continue
        if (problem := store.problem()) is not None:
            warnings.warn(problem, StoreWarning, stacklevel=2)
            continue
        stores.append(store)
    return stores


def where_from(results: list[dict[str, Any]]) -> str:
    """One line per source: how many of these results came from it (the local cache, a class cache, the precomputed runs, training)."""
    counts: dict[str, int] = {}
    for r in results:
        source = r.get("source", "unknown")
        if source.startswith("trained: "):  # "trained: <cache>/<run>" → one line for the whole cache
            source = f"trained now, into {Path(source.split(': ', 1)[1]).parent}"
        else:
            source = f"from the {source}"
        counts[source] = counts.get(source, 0) + 1
    return "\n".join(f"{n} run{'s' if n > 1 else ''} {source}" for source, n in counts.items())
