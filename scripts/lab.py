"""Start JupyterLab on the course notebooks: `make lab` runs this, and so does the browser test.

One launch command for both, so the browser test (tests/browser/run_in_browser.py) proves that
`make lab` works. Two things every container user trips over are handled here:
- JupyterLab refuses to run as root without --allow-root, and CI and many containers run as root;
- since jupyter_server 2.0 the token is `IdentityProvider.token`; `ServerApp.token` is deprecated
  and is ignored (with a warning) when both are set.

    python scripts/lab.py                                 # what `make lab` does
    python scripts/lab.py --port 8890 --token T --no-browser [extra jupyter options]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def lab_command(
    *,
    port: int | None = None,
    token: str | None = None,
    open_browser: bool = True,
    root_dir: Path = NOTEBOOKS,
    extra: list[str] | None = None,
) -> list[str]:
    """The `jupyter lab` command line for this environment (the Python running this file)."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root_dir}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    if port is not None:  # a fixed port on localhost only; fail rather than silently take another
        cmd += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        cmd.append("--no-browser")
    return cmd + list(extra or [])


def main(argv: list[str] | None = None) -> None:
    """Replace this process with JupyterLab (so its process id is the launcher's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT (default: JupyterLab's choice)")
    parser.add_argument("--token", help="the access token (default: JupyterLab makes one and prints the URL)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the folder to serve (default: the course's notebooks/)")
    args, extra = parser.parse_known_args(argv)
    cmd = lab_command(port=args.port, token=args.token, open_browser=not args.no_browser, root_dir=args.notebooks, extra=extra)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
