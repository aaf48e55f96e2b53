"""The course's two languages: English as the code writes it, Chinese from catalogues of templates.

A catalogue maps an English *template* — a `str.format` string, "it returned {0}: return a tensor.",
literal braces doubled — to its Chinese version, whose slots {0}, {1}, … may come in any order. To
translate a finished English text, find the template it was made from (its literal parts match, the
slots take whatever lies between them), translate each slot's value when it is itself a text of the
catalogue, and fill the Chinese template. Text no template matches stays English.

    use_language("zh")   # what setup(lang="zh") calls: the checkers and the figures speak Chinese
    language()           # "en" or "zh": use_language's choice, else BYOL_COURSE_LANG, else "en"

Catalogues: `exercises/zh.json` (the checkers' sentences) and `figures_zh.json` (the words on the
course's figures, translated as matplotlib draws them). Chinese needs a font with CJK glyphs:
`chinese_font()` finds one that is installed (Debian/Ubuntu and Colab: `apt-get install
fonts-wqy-microhei`, 1.6 MB; or fonts-noto-cjk) and puts it behind DejaVu Sans, glyph by glyph.
"""

from __future__ import annotations

import functools
import json
import os
import re
import string
import subprocess
from pathlib import Path

__all__ = ["LANGUAGES", "Catalogue", "chinese_font", "figures", "language", "use_language"]

LANGUAGES = ("en", "zh")
ENV = "BYOL_COURSE_LANG"
HERE = Path(__file__).resolve().parent
# Fonts with CJK glyphs, the first installed one wins: free ones from the package registries first.
CJK_FAMILIES = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
                "Droid Sans Fallback", "AR PL UMing CN", "PingFang SC", "Heiti SC", "Microsoft YaHei", "SimHei")
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"), "/System/Library/Fonts",
             "/Library/Fonts", "C:/Windows/Fonts")
INSTALL = "apt-get install -y fonts-wqy-microhei"


def language() -> str:
    """The course's language: the BYOL_COURSE_LANG environment variable (use_language sets it), else English."""
    lang = os.environ.get(ENV, "en").strip().lower() or "en"
    return lang if lang in LANGUAGES else "en"


class Catalogue:
    """English templates → Chinese templates, from a JSON file; translates finished English texts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @functools.cached_property
    def table(self) -> dict[str, str | None]:
        """The catalogue as written: None marks a string no reader sees (text matched against, never shown)."""
        return json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}

    @functools.cached_property
    def _patterns(self) -> list[tuple[int, re.Pattern[str], str]]:
        """(literal length, regex, Chinese template) per translated entry, the most specific first."""
        out = []
        for english, chinese in self.table.items():
            if not chinese:
                continue
            parts = literal_parts(english)
            if sum(len(p) for p in parts) == 0:
                continue
            regex = re.compile("(.*?)".join(re.escape(p) for p in parts) + r"\Z", re.DOTALL)
            out.append((sum(len(p) for p in parts), regex, chinese))
        return sorted(out, key=lambda t: -t[0])

    def translate(self, text: str, depth: int = 0) -> str | None:
        """The Chinese of `text` when a template matches all of it, else None."""
        if depth > 4 or not text.strip():
            return None
        for _, regex, chinese in self._patterns:
            match = regex.match(text)
            if match is None:
                continue
            values = [self.translate(v, depth + 1) or v for v in match.groups()]
            try:
                return chinese.format(*values)
            except (IndexError, KeyError, ValueError):
                return None  # a broken entry: English rather than a wrong sentence (tests/test_zh.py catches it)
        return None

    def say(self, text: str, lang: str | None = None) -> str:
        """`text` in `lang` (default: the course's language)."""
        if (lang or language()) == "en" or not isinstance(text, str):
            return text
        return self.translate(text) or text


def literal_parts(template: str) -> list[str]:
    """A str.format template's literal text around its slots: "a {0} b" → ["a ", " b"]."""
    parts, current = [], ""
    for literal, field, _, _ in string.Formatter().parse(template):
        current += literal
        if field is not None:
            parts.append(current)
            current = ""
    return [*parts, current]


figures = Catalogue(HERE / "figures_zh.json")


def chinese_font(install: bool = False) -> str | None:
    """The family name of an installed font with CJK glyphs, registered with matplotlib; None if there is none.

    install=True first runs `apt-get install fonts-wqy-microhei` when no font is found (Colab does this).
    """
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    for folder in FONT_DIRS:  # matplotlib does not scan .ttc collections itself, where most CJK fonts live
        for path in sorted(Path(folder).rglob("*")) if Path(folder).is_dir() else []:
            if path.suffix.lower() in (".ttc", ".otf", ".ttf") and any(k in path.name.lower() for k in ("wqy", "cjk", "han", "droidsansfallback", "uming", "pingfang", "msyh", "simhei")):
                try:
                    font_manager.fontManager.addfont(str(path))
                except (OSError, RuntimeError, ValueError):
                    continue
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    if install:
        subprocess.run(["bash", "-c", f"(apt-get -qq update && {INSTALL}) >/dev/null 2>&1"], check=False)
        return chinese_font(install=False)
    return None


def _translate_figure_text() -> None:
    """Make every matplotlib text pass through the figures' catalogue as it is set (titles, labels, legends)."""
    from matplotlib import text as mtext

    if getattr(mtext.Text.set_text, "_byol_course", False):
        return
    original = mtext.Text.set_text

    audit = os.environ.get("BYOL_COURSE_FIGURE_AUDIT")  # a file to list the words drawn without a translation

    def set_text(self: mtext.Text, s: object) -> None:
        if isinstance(s, str) and language() == "zh":
            said = figures.translate(s)
            if said is None and audit and re.search(r"[A-Za-z]{2,}", s):
                with open(audit, "a", encoding="utf-8") as f:
                    f.write(json.dumps(s, ensure_ascii=False) + "\n")
            s = said or s
        original(self, s)

    set_text._byol_course = True  # type: ignore[attr-defined]
    mtext.Text.set_text = set_text  # type: ignore[method-assign]


def use_language(lang: str, install_font: bool = False) -> str | None:
    """Speak `lang` ('en' or 'zh') from now on: checkers, figures; returns a sentence when something is missing."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: the course speaks {' and '.join(LANGUAGES)} (lang='en' or lang='zh').")
    os.environ[ENV] = lang  # the checkers read it; so do subprocesses (torchrun, the collapse lab's runs)
    if lang == "en":
        return None
    import matplotlib.pyplot as plt

    _translate_figure_text()
    family = chinese_font(install=install_font)
    if family is None:
        return (f"中文图表需要一个含中文字形的字体：运行 `{INSTALL}`（Colab、Debian、Ubuntu）后重启内核 "
                f"(Chinese labels need a CJK font: run `{INSTALL}`, then restart the kernel).")
    plt.rcParams["font.family"] = ["DejaVu Sans", family]  # Latin, Greek and maths from DejaVu; the rest from the CJK font
    plt.rcParams["axes.unicode_minus"] = True
    return None
