"""The README and docs/ stay true: links resolve, commands parse, the module map is complete, code runs.

- every relative link and image in README.md, docs/*.md and notebooks/README.md names a file that exists;
- every `python -m byol_course ...` line in them parses with the real command line, and every
  `make X` they mention is a target of the Makefile;
- docs/package.md lists every module of the package, in the chapter tests/test_layout.py gives it;
- docs/export.md's Python block loads an exported encoder into torchvision and gives the package's features.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from byol_course.__main__ import build_parser
from test_layout import CHAPTER

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "notebooks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_images_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)
    missing = [t for t in targets if not re.match(r"[a-z]+:", t) and not (page.parent / t.split("#")[0]).exists()]
    assert missing == [], f"{page.name} links to files that do not exist: {missing}"


def _commands(text: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", text)  # shell line continuations
    return [m.group(1) for m in re.finditer(r"python -m byol_course ([^\n`#|]+)", joined)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_parse(page: Path) -> None:
    """A documented command line uses only commands and options the CLI has."""
    parser = build_parser()
    for command in _commands(page.read_text(encoding="utf-8")):
        args = shlex.split(command.strip().rstrip("."))
        if not args or args[0].startswith("-") and args[0] != "--help":
            continue
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{page.name}: `python -m byol_course {command.strip()}` does not parse")


def test_documented_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    for page in PAGES:
        for target in re.findall(r"`make ([a-z][a-z-]*)", page.read_text(encoding="utf-8")):
            assert target in targets, f"{page.name} mentions `make {target}`, which the Makefile lacks"


def test_the_module_map_lists_every_module_in_its_chapter() -> None:
    rows = re.findall(r"^\| ([0-9–—-]+) \| `byol_course\.([\w.]+)` \|", (ROOT / "docs" / "package.md").read_text(), flags=re.M)
    listed = {name: chapter for chapter, name in rows}
    top = {m.split(".")[0] for m in CHAPTER}
    assert set(listed) == top, f"docs/package.md should list {sorted(top - set(listed))} and not {sorted(set(listed) - top)}"
    for name, chapter in listed.items():
        if chapter.isdigit():
            assert int(chapter) == CHAPTER[name], f"docs/package.md puts {name} in chapter {chapter}, test_layout in {CHAPTER[name]}"


@torch.no_grad()
def test_export_page_code_loads_into_torchvision(tmp_path: Path) -> None:
    """The Python block of docs/export.md, run as written (only the file's path changed), gives the package's features."""
    from byol_course.augment import AugmentConfig, normalize
    from byol_course.checkpoint import save_checkpoint
    from byol_course.config import RunConfig, TrainConfig
    from byol_course.export import ENCODER_FILE, export_encoder
    from byol_course.networks import BYOLNetworks, NetworkConfig

    page = (ROOT / "docs" / "export.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, flags=re.S).group(1)
    path = re.search(r'torch\.load\("([^"]+)"', code).group(1)
    cfg = RunConfig(train=TrainConfig(device="cpu"), augment=AugmentConfig(), network=NetworkConfig(arch="resnet18", hidden_dim=16, proj_dim=8))
    net = BYOLNetworks(cfg.network)
    save_checkpoint(tmp_path / "checkpoint.pt", {"model": net.state_dict(), "config": cfg.to_dict(), "epoch": 1})
    export_encoder(tmp_path / "checkpoint.pt", tmp_path / "exported")
    scope: dict = {}
    exec(code.replace(path, str(tmp_path / "exported" / ENCODER_FILE)), scope)  # noqa: S102 — our own docs
    x = normalize(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8), cfg.augment)
    assert torch.equal(scope["m"].eval()(x), net.online_backbone.eval()(x))
