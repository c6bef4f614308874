"""Command names and descriptions in Simplified Chinese and American English, through discord.py's Translator.

The commands are declared with their Chinese text (the readers are Chinese) and ASCII names (Discord's
default, shown where no localisation applies); this table gives each its zh-CN and en-US forms.
Discord shows a member the forms of their client's language.
"""

from __future__ import annotations

import discord
from discord import app_commands

ZH = discord.Locale.chinese  # zh-CN
EN = discord.Locale.american_english  # en-US

# The declared text → its localisations. Names must stay valid command names in every language:
# lower case where a script has case, no spaces (a context menu's name may have them).
TRANSLATIONS: dict[str, dict[discord.Locale, str]] = {
    "ask": {ZH: "提问", EN: "ask"},
    "向资料库提问，引用最相关的段落回答": {
        ZH: "向资料库提问，引用最相关的段落回答",
        EN: "Ask the library; the answer quotes the most relevant passages",
    },
    "question": {ZH: "问题", EN: "question"},
    "你的问题": {ZH: "你的问题", EN: "Your question"},
    "sources": {ZH: "资料", EN: "sources"},
    "列出资料库中的文章": {ZH: "列出资料库中的文章", EN: "List the articles in the library"},
    "reindex": {ZH: "重建索引", EN: "reindex"},
    "重新读取资料库并重建索引（管理员）": {
        ZH: "重新读取资料库并重建索引（管理员）",
        EN: "Re-read the library and rebuild its index (admins)",
    },
    "add": {ZH: "添加", EN: "add"},
    "上传文章文件（.txt/.md/.jsonl）加入资料库（管理员）": {
        ZH: "上传文章文件（.txt/.md/.jsonl）加入资料库（管理员）",
        EN: "Add an uploaded article file (.txt/.md/.jsonl) to the library (admins)",
    },
    "file": {ZH: "文件", EN: "file"},
    "文章文件": {ZH: "文章文件", EN: "The article file"},
    "report": {ZH: "报告", EN: "report"},
    "提问、反馈和资料库未覆盖的问题汇总（管理员）": {
        ZH: "提问、反馈和资料库未覆盖的问题汇总（管理员）",
        EN: "Questions, votes and what the library does not cover (admins)",
    },
    "days": {ZH: "天数", EN: "days"},
    "统计最近几天（默认 7 天）": {ZH: "统计最近几天（默认 7 天）", EN: "How many days back (default 7)"},
    "问 wenda": {ZH: "问 wenda", EN: "Ask wenda"},
}


class WendaTranslator(app_commands.Translator):
    """Looks each declared string up in TRANSLATIONS; None (no localisation) for anything else."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContext
    ) -> str | None:
        return TRANSLATIONS.get(string.message, {}).get(locale)
