"""The Chinese edition: generated notebooks in step with the English ones, checkers and figures in both languages, the font.

A change to the English text cannot leave the Chinese one silently stale: a markdown cell changed after
its translation fails test_every_translated_chapter_is_in_step_with_the_english, naming the cells.
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from byol_course import language
from byol_course import exercises
from byol_course.exercises import grading, messages
from translations import figures as figure_texts
from translations import notebooks as zh

from _classroom import MISTAKES, define, solution_cells, with_mistake

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
TRANSLATED = zh.translated()


def _fields(template: str) -> list[str]:
    return sorted(f for _, f, _, _ in string.Formatter().parse(template) if f is not None)


# --- the checkers' sentences --------------------------------------------------------------------------

def test_every_checker_sentence_has_its_chinese() -> None:
    table = messages.CATALOGUE.table
    missing = [t.text for t in messages.templates() if t.text not in table or table[t.text] == ""]
    assert not missing, f"{len(missing)} checker sentences have no Chinese in byol_course/exercises/zh.json, e.g. {missing[:3]}"
    stale = sorted(set(table) - {t.text for t in messages.templates()})
    assert not stale, f"zh.json has entries no checker says any more: {stale[:3]}"


def test_each_chinese_template_has_the_english_slots() -> None:
    for english, chinese in messages.CATALOGUE.table.items():
        if chinese is None:
            continue
        assert _fields(chinese) == _fields(english) or set(_fields(chinese)) == set(_fields(english)), (english, chinese)
        chinese.format(*["·"] * len(_fields(english)))  # no stray brace
        words = re.findall(r"[A-Za-z]{2,}", english.format(*[""] * len(_fields(english))))
        assert CJK.search(chinese) or len(words) < 2, f"not translated: {english!r} -> {chinese!r}"


def test_the_same_mistake_gets_the_same_diagnosis_in_both_languages() -> None:
    """One classic mistake per exercise: the Chinese line is the English one translated, wholly, never left English."""
    solutions = solution_cells()
    for grade_id in MISTAKES:
        exercise = grading.EXERCISES[grade_id]
        fn = define(with_mistake(solutions[grade_id], grade_id), exercise.function)
        check = getattr(exercises, exercise.checker)
        english = check.verdict(fn)
        assert english, grade_id
        chinese = messages.say(english, "zh")
        assert chinese != english and CJK.search(chinese), f"{grade_id}: no Chinese for {english!r}"
        assert messages.say(check.title, "zh") != check.title or " " not in check.title, check.title  # EMA, LARS, DirectPred stay


def test_a_checker_prints_in_the_language_set(monkeypatch, capsys) -> None:
    from byol_course.exercises import check_solarize

    def wrong(x, threshold=0.5):
        return x

    monkeypatch.setenv("BYOL_COURSE_LANG", "en")
    check_solarize(wrong)
    english = capsys.readouterr().out
    monkeypatch.setenv("BYOL_COURSE_LANG", "zh")
    check_solarize(wrong)
    chinese = capsys.readouterr().out
    assert english.startswith("✗ ") and chinese.startswith("✗ ") and CJK.search(chinese) and not CJK.search(english)
    with pytest.raises(AssertionError, match=CJK.pattern):
        grading.assert_visible("ch01-solarize", wrong)


def test_an_unknown_language_is_one_clear_sentence() -> None:
    with pytest.raises(ValueError, match="lang='en' or lang='zh'"):
        language.use_language("fr")


# --- the notebooks ------------------------------------------------------------------------------------

def test_at_least_one_chapter_is_translated() -> None:
    assert TRANSLATED, "no chapter has a catalogue in translations/zh/notebooks/"


@pytest.mark.parametrize("notebook", TRANSLATED, ids=lambda p: p.stem)
def test_every_translated_chapter_is_in_step_with_the_english(notebook: Path) -> None:
    problems = zh.check(notebook)
    assert not problems, problems.sentence(notebook.name)
    assert not problems.extra, f"{notebook.name}: catalogue entries for cells the English no longer has: {problems.extra}"


@pytest.mark.parametrize("notebook", TRANSLATED, ids=lambda p: p.stem)
def test_the_committed_chinese_notebook_is_the_generated_one(notebook: Path) -> None:
    """Code cells byte for byte the English ones (the set-up call gains lang="zh"), markdown from the catalogue, no outputs."""
    committed = ROOT / "notebooks" / "zh" / notebook.name
    assert committed.is_file(), f"notebooks/zh/{notebook.name} is missing: run `make zh`"
    built = zh.build(notebook)
    assert nbformat.writes(nbformat.read(committed, as_version=4)) == nbformat.writes(built), \
        f"notebooks/zh/{notebook.name} differs from what `make zh` makes: run `make zh` and commit it"
    english = nbformat.read(notebook, as_version=4)
    for en, cn in zip(english.cells, built.cells, strict=True):
        assert (en.id, en.cell_type) == (cn.id, cn.cell_type)
        if en.cell_type == "code":
            expected = zh.setup_in_chinese(en.source) if "from byol_course.course import setup" in en.source else en.source
            assert cn.source == expected and not cn.outputs
            if expected != en.source:
                assert 'lang="zh"' in cn.source and cn.source.replace(', lang="zh"', "").replace('lang="zh"', "") == en.source
        else:
            assert CJK.search(cn.source), f"{notebook.name} cell {cn.id} has no Chinese"
    badge = built.cells[0].source
    assert "colab-badge" not in badge or f"/notebooks/zh/{notebook.name}" in badge


def test_a_stale_translation_names_the_cells_to_retranslate(tmp_path, monkeypatch) -> None:
    if not TRANSLATED:
        pytest.skip("no chapter is translated yet")
    notebook = TRANSLATED[0]
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown")
    cell.source += "\nOne more English sentence."
    changed = tmp_path / notebook.name
    nbformat.write(nb, changed)
    monkeypatch.setattr(zh, "catalogue_path", lambda p: zh.CATALOGUES / f"{p.stem}.json")
    problems = zh.check(changed)
    assert problems.stale == [cell.id] and cell.id in problems.sentence(changed.name)
    with pytest.raises(ValueError, match=cell.id):
        zh.build(changed)


def test_links_are_rewritten_for_the_folder_below() -> None:
    text = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/"
            "github/byol-course/byol-course/blob/main/notebooks/03_predictor_and_loss.ipynb) "
            "[词汇表](../docs/glossary.md) [包](../docs/package.md) [下一章](04_ema_target.ipynb) [README](../README.md)")
    out = zh.localise_links(text)
    assert "blob/main/notebooks/zh/03_predictor_and_loss.ipynb" in out
    assert "](../../docs/zh/glossary.md)" in out and "](../../docs/package.md)" in out
    assert "](04_ema_target.ipynb)" in out and "](../../README.md)" in out


# --- figures and the font -----------------------------------------------------------------------------

def test_every_figure_text_has_its_chinese() -> None:
    gaps = figure_texts.missing()
    assert not gaps, f"{len(gaps)} figure texts lack a Chinese version in byol_course/figures_zh.json: {list(gaps)[:3]}"


def test_chinese_labels_draw_with_no_missing_glyph(tmp_path) -> None:
    """Chinese text renders: a CJK font is installed (apt-get install fonts-wqy-microhei) and no glyph falls back to a box."""
    script = f"""
import warnings, matplotlib
matplotlib.use("Agg")
from byol_course.language import use_language
missing = use_language("zh")
assert missing is None, missing
import matplotlib.pyplot as plt
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="在线网络 θ 的损失 −2…8")
    ax.set(title="目标网络：指数移动平均（EMA）", xlabel="训练步", ylabel="余弦相似度")
    ax.legend()
    fig.savefig({str(tmp_path / 'zh.png')!r})
glyphs = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
assert not glyphs, glyphs
print(plt.rcParams["font.family"])
"""
    found = language.chinese_font() is not None
    if not found and os.environ.get("CI") != "true":
        pytest.skip("no CJK font installed here: apt-get install fonts-wqy-microhei (CI installs it)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "zh.png").stat().st_size > 5000


def test_figure_texts_are_translated_as_they_are_drawn(monkeypatch) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = language.figures.table
    english = next((e for e, c in table.items() if c and "{" not in e), None)
    if english is None:
        pytest.skip("figures_zh.json is empty")
    monkeypatch.setenv("BYOL_COURSE_LANG", "zh")
    language._translate_figure_text()
    fig, ax = plt.subplots()
    ax.set_title(english)
    assert ax.get_title() == table[english]
    monkeypatch.setenv("BYOL_COURSE_LANG", "en")
    ax.set_title(english)
    assert ax.get_title() == english
    plt.close(fig)


# --- the README ---------------------------------------------------------------------------------------

def test_the_readmes_link_each_other() -> None:
    chinese = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    assert "(README.md)" in chinese and "(README.zh.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(CJK.findall(chinese)) > 500


@pytest.mark.parametrize("chinese, english", [("README.zh.md", "README.md"), ("docs/zh/glossary.md", "docs/glossary.md"),
                                              ("docs/zh/teaching.md", "docs/teaching.md")])
def test_the_chinese_pages_are_in_step_with_the_english(chinese: str, english: str) -> None:
    """Each Chinese page names the hash of the English it was translated from: a change to the English fails here."""
    first = (ROOT / chinese).read_text(encoding="utf-8").splitlines()[0]
    found = re.fullmatch(rf"<!-- translated from {re.escape(english)} sha16: ([0-9a-f]{{16}}) -->", first)
    assert found, f"{chinese} must start with <!-- translated from {english} sha16: … -->"
    assert found.group(1) == zh.sha((ROOT / english).read_text(encoding="utf-8")), \
        f"{english} changed since {chinese} was translated: translate the change, then set the sha16 on its first line"


def test_the_wheel_carries_the_chinese_catalogues(tmp_path) -> None:
    """A Colab student installs the package from git: the Chinese sentences and figure words must come with it."""
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    names = zipfile.ZipFile(next(tmp_path.glob("byol_course-*.whl"))).namelist()
    assert "byol_course/exercises/zh.json" in names and "byol_course/figures_zh.json" in names
