"""The precomputed collapse-lab runs that ship with the course (byol_course/precomputed/).

They load, match their manifest byte for byte, hold the schema the code writes today, and cover
everything chapter 9 runs in classroom mode: read from them, the classroom suite trains nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import warnings

import pytest

from byol_course import collapse
from byol_course.collapse import LAB_VERSION, Store, StoreWarning
from byol_course.collapse.store import PRECOMPUTED

FOLDER = PRECOMPUTED / "collapse-classroom"
pytestmark = pytest.mark.skipif(not FOLDER.exists(), reason="no precomputed runs in this checkout (scripts/make_precomputed.py)")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((FOLDER / "MANIFEST.json").read_text())


def test_the_manifest_says_what_made_them_and_matches_every_file(manifest: dict) -> None:
    assert manifest["lab_version"] == LAB_VERSION and manifest["commands"] and manifest["machine"] and manifest["torch"]
    files = {f["path"]: f for f in manifest["files"]}
    on_disk = sorted(str(p.relative_to(FOLDER)) for p in FOLDER.glob("*/result.json.gz"))
    assert sorted(files) == on_disk and manifest["runs"] == len(on_disk)
    for path, entry in files.items():
        data = (FOLDER / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"], path
    assert sum(f["bytes"] for f in files.values()) < 5_000_000  # metrics and coordinates only: a few MB at most


def test_every_run_loads_checked_and_has_todays_schema(manifest: dict, tmp_path) -> None:
    """Each result reads through the store without a warning, and has the fields a run writes today."""
    base, sizes = collapse.lab_config("smoke")
    base.train.epochs, base.train.device = 1, "cpu"
    fresh = collapse.run_lab(["baseline"], base=base, sizes=collapse.LabSizes(64, 64, 32), cache=tmp_path, progress=False, umap=False)[0]
    store = Store(FOLDER, "precomputed")
    assert store.problem() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        for entry in manifest["files"]:
            key = entry["path"].split("/")[0].rsplit("-", 1)[1]
            result = store.result(key)
            assert result is not None and result["lab_version"] == LAB_VERSION
            if "start" in result:  # a continuation from the healthy start
                assert {"history", "final", "config", "sizes", "sha256"} <= set(result)
                continue
            written = set(fresh) - {"cached", "source"}
            assert written - {"umap"} <= set(result) <= written | {"umap"}, entry["path"]
            assert set(result["final"]) == set(fresh["final"]) and set(result["history"][-1]) == set(fresh["history"][-1])


def test_chapter_9_in_classroom_mode_trains_nothing_from_them(monkeypatch, tmp_path) -> None:
    """The classroom suite and RUN_MORE's experiments, read with the precomputed runs as a source: no run is trained."""
    from byol_course.collapse import healthy, runner

    def refuse(*args, **kwargs):
        raise AssertionError("a run missing from the precomputed results would be trained here")

    monkeypatch.setattr(runner, "_train_and_measure", refuse)
    monkeypatch.setattr(healthy, "load_checkpoint", refuse)
    base, sizes = collapse.lab_config("classroom")
    data = collapse.load_lab_data(base, sizes)
    sources = collapse.read_sources("classroom", use_precomputed=True)
    suite = collapse.run_suite("classroom", cache=tmp_path, base=base, sizes=sizes, data=data, sources=sources, progress=False)
    more = [n for n in collapse.EXPERIMENTS if n not in collapse.CORE and n not in collapse.LAMBDA_SWEEP]
    extra = collapse.run_lab(more, base=base, sizes=sizes, data=data, cache=tmp_path, sources=sources, progress=False)
    everything = suite.results + suite.lambdas + suite.healthy + extra
    assert all(r["source"].startswith("precomputed: ") for r in everything)
    assert not any(tmp_path.iterdir()) or all(not any(p.iterdir()) for p in tmp_path.iterdir())  # nothing written locally


def test_a_result_is_gzip_of_json(manifest: dict) -> None:
    entry = FOLDER / manifest["files"][0]["path"]
    assert json.loads(gzip.decompress(entry.read_bytes()))["key"] in entry.parent.name
