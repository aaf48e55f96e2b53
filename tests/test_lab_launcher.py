"""`make lab` and the browser test start JupyterLab the same way, through scripts/lab.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab():
    spec = importlib.util.spec_from_file_location("lab_launcher", ROOT / "scripts" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("uid", [0, 1000])
def test_allow_root_only_as_root(lab, monkeypatch, uid: int) -> None:
    """JupyterLab refuses to start as root without --allow-root (CI and containers run as root)."""
    monkeypatch.setattr(lab.os, "geteuid", lambda: uid)
    assert ("--allow-root" in lab.lab_command()) == (uid == 0)


def test_token_through_identity_provider(lab) -> None:
    """The token goes to IdentityProvider.token; the deprecated ServerApp.token is never set."""
    cmd = lab.lab_command(port=8890, token="abc", open_browser=False)
    assert "--IdentityProvider.token=abc" in cmd
    assert not any(arg.startswith("--ServerApp.token") for arg in cmd)
    assert {"--ServerApp.ip=127.0.0.1", "--ServerApp.port=8890", "--ServerApp.port_retries=0", "--no-browser"} <= set(cmd)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"] and f"--ServerApp.root_dir={ROOT / 'notebooks'}" in cmd
    plain = lab.lab_command()  # `make lab`: JupyterLab makes its own token and opens the browser
    assert not any("token" in arg or arg == "--no-browser" for arg in plain)


def test_installed_jupyter_server_has_identity_provider_token() -> None:
    """The installed jupyter_server reads IdentityProvider.token and marks ServerApp.token deprecated."""
    from jupyter_server.auth.identity import IdentityProvider
    from jupyter_server.serverapp import ServerApp

    assert "token" in IdentityProvider.class_trait_names(config=True)
    assert "DEPRECATED" in ServerApp.class_traits()["token"].help


def test_make_lab_and_browser_test_share_the_launcher() -> None:
    """`make lab` runs scripts/lab.py; so does the browser test, which `make test` does not collect."""
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PY) scripts/lab.py" in makefile
    assert "tests/browser/run_in_browser.py" in makefile
    browser = (ROOT / "tests" / "browser" / "run_in_browser.py").read_text()
    assert '"scripts" / "lab.py"' in browser
    assert not list((ROOT / "tests" / "browser").glob("test_*.py")), "pytest would collect it into `make test`"
