"""The installed shape: one top-level package, `wenda`, with the design's folders mapped into it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_one_top_level_package_named_wenda(tmp_path: Path) -> None:
    # Build from a copy so the checkout gets no build/ or egg-info of this test's making.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("src", "bot"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    build = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=source, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = out / done.stdout.strip().splitlines()[-1]
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"wenda"}
    assert "wenda/retrieval/store.py" in names
    assert "wenda/bot/cli.py" in names
    assert "wenda/__main__.py" in names
    # The compiled first stage (setup.py); optional for a user without a compiler, but CI has one.
    assert any(name.startswith("wenda/retrieval/_scoring.") and name.endswith(".so") for name in names)


def test_python_dash_m_wenda_is_the_wenda_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wenda", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "wenda" in done.stdout and "ask" in done.stdout
