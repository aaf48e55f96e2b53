"""The paper's numbers as the course quotes them: every one must be in byol_course.paper's table.

The scan reads the notebooks' markdown, docs/ and the READMEs. In every sentence that cites a
place of the BYOL paper that the table knows ("Table 5a", "Tables 19 and 21", "Fig. 3b",
"Appendix G", "§5"), each percentage and each decimal number must be one the table holds for
the places that sentence cites — an accuracy, its ± spread, or a setting of that table (a τ_base,
a batch size, a λ). A sentence that also gives our own measurements must say them in a sentence
of their own. In a markdown table, the column headed "paper" or "published" is read against the
places its row cites (or the paragraph before the table); a table without such a column but
cited by the paragraph that introduces it is read whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from byol_course.paper import NUMBERS, SETTINGS, ALIASES, at, places

ROOT = Path(__file__).resolve().parents[1]
KNOWN = {n.where for n in NUMBERS.values()} | set(ALIASES)
# A place cited right after another paper's name is that paper's, not BYOL's.
OTHERS = ("SimSiam", "Chen & He", "Richemond", "Tian", "DINO", "Caron", "Wu et al", "untitled", "InstDisc", "RankMe")

_PLACE = re.compile(
    r"(?P<kind>Tables?|Fig\.|Figures?|App\.|Appendix|§)\s?"
    r"(?P<ids>\d+[a-z]?(?:\.\d+)?(?:(?:,\s*|\s+and\s+|/)\d+[a-z]?)*|[A-J](?:\.\d)?)"
)
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?%")
_DECIMAL = re.compile(r"(?<![\w.−-])(\d+\.\d+)(?![\d.]*[\w%])")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z*(\[])|\n\s*\n|\n\s*[-*]\s|\n(?=#)|\n\s*\d+\.\s")


def cited(text: str) -> list[str]:
    """The places of the BYOL paper a piece of text cites, in the table's own names."""
    out = []
    for m in _PLACE.finditer(text):
        before = text[max(0, m.start() - 40): m.start()]
        if any(o in before for o in OTHERS):
            continue
        kind = {"Tables": "Table", "Figures": "Figure", "Fig.": "Figure", "App.": "Appendix"}.get(m["kind"], m["kind"])
        for ident in re.split(r",\s*|\s+and\s+|/", m["ids"]):
            name = f"{kind}{ident}" if kind == "§" else f"{kind} {ident}"
            if name in KNOWN:
                out.append(name)
    return out


def allowed(names: list[str]) -> set[float]:
    """The values, spreads and settings the table holds for these places."""
    values: set[float] = set()
    for name in names:
        for n in at(name):
            values |= {n.value} | ({n.spread} if n.spread is not None else set())
        for place in places(name):
            values |= set(SETTINGS.get(place, ()))
    return values


def numbers(text: str) -> list[str]:
    """The percentages and decimal numbers of a text, references to places left out."""
    text = _PLACE.sub(" ", text)
    text = re.sub(r"arXiv \S+|v\d+(\.\d+)*|\d+\.\d+\.\d+|`[^`]*`", " ", text)
    return _PERCENT.findall(text) + _DECIMAL.findall(_PERCENT.sub(" ", text))


def _bad(text: str, names: list[str]) -> list[str]:
    ok = allowed(names)
    return [x for x in numbers(text) if not any(abs(float(x) - v) < 1e-9 for v in ok)]


def problems(markdown: str) -> list[str]:
    """Every paper number of a markdown text that the table does not hold for the place cited beside it."""
    found = []
    blocks = re.split(r"((?:^\|.*\n?)+)", markdown, flags=re.M)  # prose, table, prose, table, ...
    for i, block in enumerate(blocks):
        if not block.strip():
            continue
        if block.lstrip().startswith("|"):
            rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in block.strip().splitlines()]
            header, body = rows[0], [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
            intro = cited(re.split(r"\n\s*\n", blocks[i - 1].strip())[-1]) if i else []
            paper_cols = [j for j, h in enumerate(header) if re.search(r"paper|published", h, re.I)]
            for row in body if paper_cols else [header, *body]:
                names = cited(" ".join(row)) or intro
                if not names:
                    continue
                cells = [row[j] for j in paper_cols if j < len(row)] if paper_cols else (row if intro else [])
                for cell in cells:
                    found += [f"{x} beside {', '.join(names)}: | {' | '.join(row)} |" for x in _bad(cell, names)]
            continue
        for sentence in _SENTENCE.split(block):
            names = cited(sentence)
            if names:
                found += [f"{x} beside {', '.join(names)}: {' '.join(sentence.split())}" for x in _bad(sentence, names)]
    return found


def _sources() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for k, cell in enumerate(cells):
            if cell["cell_type"] == "markdown":
                out.append((f"{path.name}, cell {k}", "".join(cell["source"])))
    for path in [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if path.exists():
            out.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    return out


@pytest.mark.parametrize("where, text", _sources(), ids=[w for w, _ in _sources()])
def test_paper_numbers_match_the_table(where: str, text: str) -> None:
    """Each number quoted beside a place of the paper is the paper's number for that place."""
    assert problems(text) == [], f"{where}: numbers that byol_course.paper does not hold for the place cited"


# --- the scanner itself: it must catch what it claims to catch ---------------------------------------------


def test_the_scanner_catches_a_wrong_tau_row() -> None:
    """The old chapter 4 table (0.996 → 72.5, 0.99 → 72.1) fails; the paper's row passes."""
    old = "The paper's ablation of τ (Table 5a):\n\n| τ_base | 1 | 0.999 | 0.996 | 0.99 |\n|---|---|---|---|---|\n| top-1 (%) | 18.8 | 69.8 | 72.5 | 72.1 |\n"
    assert {p.split()[0] for p in problems(old)} == {"0.996", "72.1"}
    new = old.replace("| 0.996 ", "").replace("| 72.5 | 72.1 |", "| 72.5 |").replace("|---|---|---|---|---|", "|---|---|---|---|")
    assert problems(new) == []


def test_the_scanner_reads_sentences_and_places() -> None:
    """A sentence is read against the places it cites; other papers' places are theirs."""
    assert problems("With τ = 0 the paper reports 0.3% (Table 5a).") == []
    assert problems("With τ = 0 the paper reports 5.5% (Table 5a).") != []
    assert problems("Tables 19 and 21 give 5.5% for λ = 1.") == []
    assert problems("Crop and flip keep 60.1% (Fig. 3b).") == []
    assert problems("Crop and flip keep 61.0% (Fig. 3b).") != []
    assert problems("SimSiam's Table 4 gives 91.8%.") == []  # not BYOL's table
    assert problems("Ours reached 50.8% kNN. The paper's baseline is 72.5% (Table 5a).") == []
    assert problems("Ours reached 50.8% where the paper's baseline is 72.5% (Table 5a).") != []


def test_the_published_column_is_read_against_its_row() -> None:
    """In a results table only the published column is checked, against the place its row cites."""
    table = ("| experiment | kNN | published | source |\n|---|---|---|---|\n"
             "| τ = 0 | 50.3% | 0.3% | Grill et al. 2020, Table 5a |\n| crop | 40.0% | 59.4% | Table 17 |\n")
    assert problems(table) == []
    assert problems(table.replace("59.4%", "60.2%")) != []


def test_the_table_quotes_and_finds_its_places() -> None:
    """quote() prints value, spread and place; at() understands the course's names for a place."""
    from byol_course.paper import quote

    assert quote("tau_0") == "0.3% (Table 5a)" and quote("tau_1") == "18.8% ± 0.7 (Table 5a)"
    assert {n.value for n in at("Fig. 3b")} >= {59.4, 60.1} and {n.value for n in at("Table 5")} >= {72.5, 0.2, 0.3}
    assert [n.value for n in at("Table 21") if n.setting.endswith("λ = 1")] == [5.5]
    with pytest.raises(KeyError, match="no paper number called 'tau_0.996'"):
        quote("tau_0.996")  # §5 never ablated τ_base = 0.996
