"""The answer buttons stand on their own: they know the client only through the protocol they declare."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from wenda.bot import discord_views

VIEWS = Path(discord_views.__file__)


def test_views_import_without_the_client() -> None:
    check = "import sys, wenda.bot.discord_views; print('wenda.bot.discord_bot' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"


def test_views_do_not_name_the_client_module_even_for_typing() -> None:
    imported = set()
    for node in ast.walk(ast.parse(VIEWS.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {name for name in imported if name.endswith("discord_bot")}, imported
