"""`python -m wenda` in a process of its own, with discord.py pointed at a Discord stand-in (discord_standin.py).

    STANDIN_URL=http://127.0.0.1:PORT python tests/standin_wenda.py bot

is `wenda bot` talking to the stand-in: only discord.py's REST base and default gateway change, as
DiscordStandin.patched() changes them in the tests' own process.
"""

from __future__ import annotations

import os
import runpy
import sys

import discord.gateway
import discord.http
import yarl


def main() -> None:
    url = os.environ["STANDIN_URL"].rstrip("/")
    discord.http.Route.BASE = url + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url).with_scheme("ws") / "gateway"
    sys.argv = ["wenda", *sys.argv[1:]]
    runpy.run_module("wenda", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
