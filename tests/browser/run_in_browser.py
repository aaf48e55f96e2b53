"""The course as students see it: every notebook run in JupyterLab, in headless Chromium.

`make test-browser` runs this (plain `make test` does not: it is not a test_*.py file).
nbval checks what the kernel computes; this checks what a student sees after "Run All Cells":
no cell shows an error, every cell ran, every figure is an image, every ipywidget is a live
control (not "Loading widget…", not a text repr) and moving it changes what it draws.

- JupyterLab starts through scripts/lab.py, the launcher `make lab` uses, on a free localhost
  port with a random token, with BYOL_COURSE_SMOKE=1 in its environment so kernels run the
  notebooks with tiny sizes. Workspaces, settings and runtime files go to a temporary folder.
- Chromium is Debian's (`apt-get install chromium`; CHROMIUM=/path overrides). We start it
  ourselves with a fresh profile and drive it with Playwright over the DevTools protocol, so no
  browser is downloaded and we hold its process id.
- One screenshot per notebook goes to runs/browser/ (git-ignored), plus jupyter.log and chromium.log.
- JupyterLab and Chromium run in their own process groups and are stopped by id at the end,
  also on failure, Ctrl-C or SIGTERM.

`python tests/browser/run_in_browser.py 01 05` runs only the notebooks whose names start so.
Timeouts are generous for a slow 2-core CI machine; BYOL_BROWSER_TIMEOUT_SCALE=2 doubles them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "runs" / "browser"
SCALE = float(os.environ.get("BYOL_BROWSER_TIMEOUT_SCALE", "1"))
LAB_START_S = 180 * SCALE  # JupyterLab up and answering
OPEN_S = 180 * SCALE  # notebook open, kernel started and idle
RUN_S = 1200 * SCALE  # one notebook, Run All Cells, until the kernel is idle
RENDER_S = 60 * SCALE  # widgets and images drawn after the kernel is idle
REACT_S = 180 * SCALE  # a moved control redraws what it drives
CHROMIUM_FLAGS = [  # headless, as root, on a machine with no network beyond package registries
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("Playwright is missing: `make test-browser` installs it (pip install -e '.[browser]').")


class NotebookFailure(AssertionError):
    """What a student would see go wrong in one notebook."""


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- processes


def free_port() -> int:
    """A port nobody listens on right now (JupyterLab gets --port_retries=0, so a race fails loudly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Process ids below pid (Linux /proc; kernels run in their own sessions, not in our group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop(proc: subprocess.Popen | None, name: str, grace_s: float = 20) -> None:
    """SIGTERM the process group (and any descendant that left it), then SIGKILL what remains."""
    if proc is None:
        return
    others = descendants(proc.pid) if Path("/proc").is_dir() else []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                continue
        break
    for pid in others:  # e.g. kernels, started in their own sessions
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log(f"stopped {name} (pid {proc.pid}, exit {proc.poll()})")


def find_chromium() -> str:
    """Debian's Chromium, or $CHROMIUM."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    sys.exit("Chromium is missing: `apt-get install -y chromium` (or set CHROMIUM=/path/to/chromium).")


LAB_SETTINGS = {  # JupyterLab's defaults except these two
    # Never write outputs into the course's notebooks (they are committed clean; autosave is every 120 s).
    "docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # No "receive Jupyter news?" toast over the screenshots.
    "apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def start_lab(tmp: Path, token: str, port: int, notebooks: Path) -> subprocess.Popen:
    """JupyterLab through the `make lab` launcher, kernels in smoke mode, state in tmp."""
    extra = [
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: read cell models and kernel state
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",  # JupyterLab's defaults, not this user's
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",  # no .ipynb_checkpoints/ beside the notebooks
    ]
    for plugin, settings in LAB_SETTINGS.items():
        file = tmp / "settings" / "@jupyterlab" / plugin
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(settings))
    env = dict(os.environ, BYOL_COURSE_SMOKE="1", JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    env.pop("MPLBACKEND", None)  # the kernel must pick the inline backend, as for a student
    cmd = [sys.executable, str(ROOT / "scripts" / "lab.py"), "--port", str(port), "--token", token, "--no-browser"]
    cmd += [f"--notebooks={notebooks}", *extra]
    logfile = open(OUT / "jupyter.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.monotonic() + LAB_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode} while starting; see {OUT / 'jupyter.log'}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"JupyterLab did not answer on port {port} within {LAB_START_S:.0f} s; see {OUT / 'jupyter.log'}")


def start_chromium(tmp: Path) -> tuple[subprocess.Popen, str]:
    """Headless Chromium with a fresh profile; returns the process and its DevTools URL."""
    profile = tmp / "chromium-profile"
    profile.mkdir()
    cmd = [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"]
    logfile = open(OUT / "chromium.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
    active = profile / "DevToolsActivePort"  # Chromium writes "PORT\n/devtools/browser/ID" here
    deadline = time.monotonic() + 60 * SCALE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited with {proc.returncode}; see {OUT / 'chromium.log'}")
        if active.exists() and len(lines := active.read_text().split()) == 2:
            return proc, f"http://127.0.0.1:{lines[0]}"
        time.sleep(0.2)
    raise RuntimeError(f"Chromium did not open its DevTools port; see {OUT / 'chromium.log'}")


def shutdown_kernels(port: int, token: str) -> None:
    """Ask JupyterLab to shut down every kernel (before it is stopped), ignoring errors."""
    base = f"http://127.0.0.1:{port}/api/kernels"
    try:
        with urllib.request.urlopen(f"{base}?token={token}", timeout=10) as r:
            kernels = json.load(r)
        for k in kernels:
            req = urllib.request.Request(f"{base}/{k['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(req, timeout=30).close()
    except OSError:
        pass


# ---------------------------------------------------------------- in the page

# Everything below reads JupyterLab's own models (window.jupyterapp) and the DOM a student sees.
PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"

JS_READY = f"""() => {{
  const p = {PANEL};
  if (!p || !p.sessionContext || !p.context || !p.context.isReady) return false;
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}}"""

JS_PROGRESS = f"""() => {{
  const p = {PANEL};
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  const cells = p.content.widgets.filter(c => c.model.type === 'code');
  const busy = cells.map((c, i) => [i, c.node.querySelector('.jp-InputArea-prompt')])
                    .filter(([i, el]) => el && el.textContent.includes('*')).map(([i]) => i);
  return {{kernel: k ? k.status : 'none', busy, ran: cells.filter(c => c.model.executionCount !== null).length,
           total: cells.length, dialog: (document.querySelector('.jp-Dialog-header') || {{}}).textContent || null}};
}}"""

# Per code cell: each output in the model, paired with the DOM child JupyterLab drew for it.
JS_CELLS = f"""() => {{
  const p = {PANEL};
  const IMAGE = ['image/png', 'image/jpeg', 'image/svg+xml'], WIDGET = 'application/vnd.jupyter.widget-view+json';
  let code = 0;
  return p.content.widgets.map((c, index) => {{
    if (c.model.type !== 'code') return null;
    code += 1;
    const children = [...c.outputArea.node.children].filter(n => n.classList.contains('jp-OutputArea-child'));
    const outputs = c.model.outputs.toJSON().map((o, i) => {{
      const node = children[i] && children[i].querySelector('.jp-OutputArea-output');
      const data = o.data || {{}};
      return {{
        type: o.output_type,
        kind: data[WIDGET] ? 'widget' : IMAGE.some(m => data[m]) ? 'image' : 'other',
        error: o.output_type === 'error' ? `${{o.ename}}: ${{o.evalue}}` : null,
        drawn: !!node && [...node.querySelectorAll('img')].some(im => im.complete && im.naturalWidth > 0),
        live: !!node && !!node.querySelector('.jupyter-widgets') && !/Loading widget|Error displaying widget/.test(node.textContent),
        text: node ? node.textContent.slice(0, 300) : '(not in the page)',
      }};
    }});
    return {{
      index: index + 1, code, outputs,
      first_line: c.model.sharedModel.getSource().split('\\n').find(l => l.trim() && !l.startsWith('#')) || '',
      count: c.model.executionCount,
      errors: outputs.filter(o => o.error).map(o => o.error),
      images: outputs.filter(o => o.kind === 'image').length,
      widgets: outputs.filter(o => o.kind === 'widget').length,
    }};
  }}).filter(c => c !== null);
}}"""

# What a control drives: every image in the notebook and the text of Output/HTML widgets.
JS_FINGERPRINT = f"""() => {{
  const node = {PANEL}.content.node;
  const imgs = [...node.querySelectorAll('.jp-OutputArea-output img')].map(i => i.src.length + ':' + i.src.slice(-200));
  const texts = [...node.querySelectorAll('.widget-output, .jupyter-widgets-output-area, .widget-html-content')].map(n => n.textContent);
  return JSON.stringify([imgs, texts]);
}}"""


def first_line(cell: dict) -> str:
    text = cell["first_line"].strip()
    return text if len(text) <= 70 else text[:67] + "..."


def where(name: str, cell: dict) -> str:
    return f"{name}, cell {cell['index']} (code cell {cell['code']}: `{first_line(cell)}`)"


def open_notebook(page, base: str, token: str, name: str) -> None:
    """Open the notebook in its own fresh workspace and wait for an idle, connected kernel."""
    stem = Path(name).stem
    page.goto(f"{base}/lab/workspaces/browser-{stem}/tree/{name}?token={token}", timeout=OPEN_S * 1000)
    try:
        page.wait_for_function(JS_READY, timeout=OPEN_S * 1000, polling=500)
    except PlaywrightError as e:
        raise NotebookFailure(f"{name}: the notebook did not open with an idle kernel within {OPEN_S:.0f} s ({e.message.splitlines()[0]})") from None


def run_all(page, name: str) -> float:
    """Run > Run All Cells, as a student does; wait until every queued cell ran and the kernel is idle."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    start = time.monotonic()
    deadline, idle_since, last_report = start + RUN_S, None, start
    while True:
        state = page.evaluate(JS_PROGRESS)
        now = time.monotonic()
        if state["dialog"] and re.search(r"Kernel|Restart|died", state["dialog"]):
            raise NotebookFailure(f"{name}: JupyterLab shows the dialog {state['dialog']!r} (the kernel died?)")
        if state["kernel"] in ("dead", "unknown", "none", "restarting", "autorestarting"):
            raise NotebookFailure(f"{name}: the kernel is {state['kernel']} after {now - start:.0f} s")
        done = state["kernel"] == "idle" and not state["busy"] and now - start > 2
        idle_since = (idle_since or now) if done else None
        if idle_since and now - idle_since >= 2:  # idle for 2 s: not just between two cells
            return now - start
        if now > deadline:
            raise NotebookFailure(
                f"{name}: still running after {RUN_S:.0f} s (kernel {state['kernel']}, "
                f"busy code cells {[i + 1 for i in state['busy']]}, {state['ran']}/{state['total']} ran)"
            )
        if now - last_report > 60:
            running = f", code cell {state['busy'][0] + 1} running" if state["busy"] else ""
            log(f"  ... {now - start:.0f} s, {state['ran']}/{state['total']} code cells ran{running}")
            last_report = now
        time.sleep(1)


def check_cells(page, name: str) -> tuple[list[dict], list[str]]:
    """Errors, unexecuted cells, figures not drawn, widgets not live; retried while images and widgets render."""
    deadline = time.monotonic() + RENDER_S
    while True:
        cells = page.evaluate(JS_CELLS)
        problems = []
        for cell in cells:
            at = where(name, cell)
            for err in cell["errors"]:
                problems.append(f"{at} shows an error: {err}")
            if cell["count"] is None and not cell["errors"]:
                problems.append(f"{at} never ran (Run All stopped before it, or the kernel died)")
            for n, out in enumerate(cell["outputs"], 1):
                what = f"{at}, output {n}"
                if out["kind"] == "image" and not out["drawn"]:
                    problems.append(f"{what}: a figure that was not drawn as an image (shows {out['text'][:60]!r})")
                if out["kind"] == "widget" and not out["live"]:
                    problems.append(f"{what}: a widget that is not a live control (shows {out['text'][:60]!r})")
                if out["kind"] == "other" and re.search(r"<Figure size \d+x\d+ with \d+ Axes>", out["text"]):
                    problems.append(f"{what}: a figure printed as text ({out['text'][:60]!r}), not drawn: is matplotlib inline?")
                if out["kind"] == "other" and re.match(r"\s*(VBox|HBox|Box|interactive|\w+Slider|Output|Dropdown|Button|Checkbox)\(", out["text"]):
                    problems.append(f"{what}: a widget shown as its text repr ({out['text'][:60]!r}), not as a control")
        settled = any(c["errors"] or c["count"] is None for c in cells)  # waiting longer will not fix these
        if not problems or settled or time.monotonic() > deadline:
            return cells, problems
        time.sleep(2)


def driver(out) -> list[tuple[str, object]]:
    """The controls a student uses to make a widget redraw: a slider; else a setting and the button
    that applies it (a form); else a dropdown, checkbox or button alone. Empty for display-only widgets."""
    sliders = out.locator(".widget-slider .noUi-handle")
    settings = out.locator(".widget-dropdown select, .widget-checkbox input")
    buttons = out.locator("button.widget-button, .widget-toggle-button, .widget-toggle-buttons button")
    if sliders.count():
        return [("slider", sliders.first)]
    if buttons.count():
        return ([("setting", settings.first)] if settings.count() else []) + [("button", buttons.first)]
    if settings.count():
        return [("setting", settings.first)]
    return []


def describe(kind: str, control) -> str:
    """'the slider "crop min area"', 'the button "train and compare"', ... for messages."""
    try:
        if kind == "button":
            text = control.inner_text(timeout=2000)
        else:
            box = control.locator("xpath=ancestor::*[contains(concat(' ', @class, ' '), ' widget-inline-hbox ')][1]")
            text = box.inner_text(timeout=2000)
    except PlaywrightError:
        text = ""
    text = next((line.strip(" \u200b") for line in text.splitlines() if line.strip(" \u200b")), "")  # ipywidgets pads with U+200B
    return f"the {kind} {text.strip()!r}" if text.strip() else f"a {kind}"


def poke(page, kind: str, control, step: int) -> None:
    """Use one control as a student does: drag a slider, pick the next option, tick a box, click."""
    control.scroll_into_view_if_needed()
    if kind == "slider":
        before = control.get_attribute("aria-valuenow")
        box = control.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        dx = 60 if step == 0 else -30  # right, then part of the way back: two different values
        page.mouse.move(x, y)
        page.mouse.down()
        for i in range(1, 11):
            page.mouse.move(x + dx * i / 10, y)
        page.mouse.up()
        if control.get_attribute("aria-valuenow") == before:  # the drag did not take (seen when JupyterLab re-laid
            control.focus()  # the notebook out under the pointer): the keyboard, as a student could use it too
            for _ in range(3):
                control.press("ArrowRight" if step == 0 else "ArrowLeft")
    elif kind == "setting" and control.evaluate("el => el.tagName") == "SELECT":
        values = control.locator("option").evaluate_all("os => os.map(o => o.value)")
        control.select_option(values[(values.index(control.input_value()) + 1) % len(values)])
    else:
        control.click()


def check_widgets_react(page, name: str, cells: list[dict]) -> list[dict]:
    """In each cell that displays widgets, use its controls twice; each time something must redraw."""
    reacted = []
    for cell in (c for c in cells if c["widgets"]):
        at = where(name, cell)
        out = page.locator(".jp-Notebook .jp-Cell").nth(cell["index"] - 1).locator(".jp-Cell-outputArea")
        controls = driver(out)
        if not controls:
            log(f"  {at}: widgets without a control to use (display only)")
            continue
        action = " then ".join(describe(kind, control) for kind, control in controls)
        for step in range(2):
            before = page.evaluate(JS_FINGERPRINT)
            for kind, control in controls:
                poke(page, kind, control, step)
            try:
                page.wait_for_function(f"before => ({JS_FINGERPRINT})() !== before", arg=before, timeout=REACT_S * 1000, polling=500)
            except PlaywrightError:
                raise NotebookFailure(f"{at}: using {action} (time {step + 1} of 2) redrew nothing within {REACT_S:.0f} s") from None
            page.wait_for_function(JS_READY, timeout=REACT_S * 1000, polling=500)
            shown = out.inner_text()
            if "Traceback (most recent call last)" in shown:  # an error inside an Output widget
                tail = [line for line in shown.splitlines() if re.match(r"\w+(Error|Exception)\b", line)]
                raise NotebookFailure(f"{at}: using {action} shows an error: {tail[-1] if tail else 'a traceback'}")
        log(f"  {at}: using {action} redraws the output (twice)")
        reacted.append(cell)
    return reacted


def screenshot(page, name: str, cells: list[dict]) -> Path:
    """Scroll to the most telling output (the first of `cells` with a widget, else the last figure) and save the page."""
    target = next((c for c in cells if c["widgets"]), None) or next((c for c in reversed(cells) if c["images"]), None)
    if target:
        try:
            page.locator(".jp-Notebook .jp-Cell").nth(target["index"] - 1).locator(".jp-OutputArea").first.scroll_into_view_if_needed(timeout=5000)
        except PlaywrightError:
            pass
    path = OUT / f"{Path(name).stem}.png"
    page.screenshot(path=str(path))
    return path


def outputs_on_disk(path: Path) -> bool:
    """Whether the notebook file holds outputs or execution counts (the course commits them clean)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code")


def check_notebook(context, base: str, token: str, path: Path) -> str:
    """Open, run all, check, poke widgets, screenshot, shut the kernel down; returns a one-line summary."""
    page = context.new_page()
    page.set_default_timeout(60_000 * SCALE)
    cells: list[dict] = []
    clean = not outputs_on_disk(path)
    try:
        t0 = time.monotonic()
        open_notebook(page, base, token, path.name)
        opened = time.monotonic() - t0
        ran = run_all(page, path.name)
        cells, problems = check_cells(page, path.name)
        if problems:
            raise NotebookFailure("\n".join(problems))
        reacted = check_widgets_react(page, path.name, cells)
        shot = screenshot(page, path.name, reacted + [c for c in cells if not c["widgets"]])
        if clean and outputs_on_disk(path):
            raise NotebookFailure(f"{path.name}: JupyterLab wrote outputs into the file (autosave on?)")
        figures = sum(c["images"] for c in cells)
        return (f"{path.name}: opened in {opened:.0f} s, ran {len(cells)} code cells in {ran:.0f} s, "
                f"{figures} figure(s) drawn, {len(reacted)} widget panel(s) react; {shot.relative_to(ROOT)}")
    except BaseException:
        try:
            screenshot(page, path.name, cells)
        except Exception:  # noqa: BLE001 - the screenshot is a courtesy; the failure is what matters
            pass
        raise
    finally:
        try:
            page.evaluate(f"() => {PANEL} && {PANEL}.sessionContext && {PANEL}.sessionContext.shutdown()")
        except Exception:  # noqa: BLE001
            pass
        page.close()


def main(argv: list[str]) -> int:
    """Every notebook, or those whose names start with one of the arguments (e.g. `01 05`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="name prefixes of the notebooks to run (default: all)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="another folder (to check this checker)")
    args = parser.parse_args(argv)
    folder = args.notebooks.resolve()
    notebooks = [p for p in sorted(folder.glob("*.ipynb")) if not args.only or p.name.startswith(tuple(args.only))]
    if not notebooks:
        log("no notebooks in notebooks/: nothing to test")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks below
    token, port = secrets.token_hex(24), free_port()
    lab = chromium = None
    failures: list[str] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="byol-browser-") as tmp:
        try:
            lab = start_lab(Path(tmp), token, port, folder)
            log(f"JupyterLab pid {lab.pid} on 127.0.0.1:{port} ({time.monotonic() - t0:.0f} s to start)")
            chromium, cdp = start_chromium(Path(tmp))
            log(f"Chromium pid {chromium.pid} (headless, fresh profile)")
            with sync_playwright() as pw:
                browser = pw.chromium.connect_over_cdp(cdp, timeout=60_000 * SCALE)
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                for path in notebooks:
                    try:
                        log(check_notebook(context, f"http://127.0.0.1:{port}", token, path))
                    except NotebookFailure as e:
                        failures.append(str(e))
                        log(f"FAILED {e}")
                    except PlaywrightError as e:
                        failures.append(f"{path.name}: the browser step failed: {e.message.splitlines()[0]}")
                        log(f"FAILED {failures[-1]}")
                context.close()
                browser.close()
        finally:
            if lab is not None:
                shutdown_kernels(port, token)
            stop(chromium, "Chromium")
            stop(lab, "JupyterLab")
    log(f"{len(notebooks)} notebook(s) in {time.monotonic() - t0:.0f} s; screenshots and logs in {OUT.relative_to(ROOT)}/")
    if failures:
        log(f"\n{len(failures)} notebook(s) failed in the browser:\n" + "\n".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
