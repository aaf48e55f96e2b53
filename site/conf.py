"""Sphinx configuration of the course website. site/build.py stages the sources and runs Sphinx with it.

Offline by design: the theme's files come with sphinx-book-theme, MathJax 3 is copied into the site
(sphinx-mathjax-offline) and search is Sphinx's own index, run in the browser. No page loads
anything from another host: the notebooks' ipywidgets are made static by site/build.py, and the
widget JavaScript MyST-NB would load from a CDN is switched off below.

The language switch: an English page with a Chinese counterpart under zh/ (and the front page) links
to it as "中文" in the article header, a Chinese page links to its English counterpart (or the front
page) as "English" (site/templates/lang-switch.html, filled by lang_switch below; plain links, no
script). Chinese pages say lang="zh" in their <html> tag.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
MODE = os.environ.get("BYOL_SITE_MODE", "classroom")
COMMIT = os.environ.get("BYOL_SITE_COMMIT", "")
BUILT = os.environ.get("BYOL_SITE_BUILT", "")

project = "byol-course"
author = "the byol-course authors"
copyright = "the byol-course authors, MIT licence"
html_title = "BYOL, built step by step"

extensions = [
    "myst_nb",  # Markdown pages and executed notebooks (site/build.py executes; MyST-NB only renders)
    "sphinx-mathjax-offline",  # MathJax 3 in _static/mathjax (sets mathjax_path to it)
]
root_doc = "index"
exclude_patterns = ["_notebooks", "zh/_notebooks", "**/.ipynb_checkpoints", "**/runs"]

# MyST: $…$ maths in the notebooks, <img> tags as Sphinx images (the README's chapter table), heading
# anchors so that page.md#section links resolve.
myst_enable_extensions = ["dollarmath", "amsmath", "html_image", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # site/build.py executed the notebooks through jupyter-cache
nb_ipywidgets_js = {}  # no require.js / widget manager from a CDN: widgets are static on the site
nb_merge_streams = True  # one block per stream, as Jupyter shows it
nb_render_markdown_format = "myst"  # Markdown outputs (the lab's result tables) with tables, as Jupyter shows them
nb_output_stderr = "show"

# MathJax: the local copy, and the same delimiters as Jupyter
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}

html_theme = "sphinx_book_theme"
html_static_path = ["static"]
templates_path = ["templates"]
html_css_files = ["site.css"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = ""
footer = f"Chapter outputs computed in {MODE} mode"
if COMMIT:
    footer += f"; built {BUILT} from commit {COMMIT}"
html_theme_options = {
    "repository_url": REPO_URL,
    "repository_branch": "main",
    "use_repository_button": True,
    "use_download_button": False,  # each chapter's header links the notebook as committed
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "navbar_persistent": [],  # the sidebar has the search field; no second one in a top bar
    "article_header_end": ["lang-switch.html", "article-header-buttons.html"],  # 中文 / English, then the theme's buttons
    "extra_footer": f"<p>{footer}. <a href=\"{REPO_URL}\">Source on GitHub</a>.</p>",
}

suppress_warnings = [
    # The notebooks' plain ``` blocks (diagrams drawn in text) are not Python; Pygments falls back to
    # plain text, which is what we want.
    "misc.highlighting_failure",
]


def lang_switch(app, pagename, templatename, context, doctree) -> None:
    """The other language's page for the header link: zh/<page> for <page>, and back (English front page if none)."""
    docs = app.env.found_docs
    if pagename.startswith("zh/"):
        english = pagename.removeprefix("zh/")
        context["lang_switch"] = {"href": context["pathto"](english if english in docs else root_doc),
                                  "label": "English", "hreflang": "en", "title": "This page in English"}
        context["language"] = "zh"
    elif f"zh/{pagename}" in docs:
        context["lang_switch"] = {"href": context["pathto"](f"zh/{pagename}"), "label": "中文", "hreflang": "zh",
                                  "title": "本页的中文版"}


def setup(app) -> None:
    app.connect("html-page-context", lang_switch)
