"""The conversational parts of a question: greetings, politeness, filler and particles, which say
nothing about what is asked and so must neither rank passages nor count against the relevance share.

People write 请问…谢谢, 大家好，有人知道…, …在线等: every such word is a term the corpus rarely holds, and
the decline rule reads a term the corpus lacks as evidence that the question is off topic. The
expressions below are taken off only at the edges of a clause (its start or its end), repeatedly,
so a word that is content inside a clause (在线教育, 急诊, 感谢信) is never touched, and a clause left
with nothing else is dropped whole. The text is normalised (Simplified, lower-case) before this.
"""

from __future__ import annotations

import re
from functools import cache

# Clause boundaries: a chat phrase is its own clause or sits at the edge of one.
_CLAUSE = re.compile(r"[^，,。.！!？?；;：:~～、…\s()（）\[\]【】]+")

_WHO = r"(?:大家|各位|诸位|列位|你们|您们|你|您|亲们?|老铁们?|朋友们?|兄弟们?|同学们?|网友们?)"
_PEOPLE_NOUNS = r"老师|朋友|同学|大佬|大神|大侠|前辈|专家|高手|网友|亲|小伙伴|老铁|兄弟|姐妹|达人|学霸"
_PEOPLE = r"(?:" + _PEOPLE_NOUNS + r")们?"
_POLITE_VERB = (
    r"(?:问|请教|咨询|了解|打听|知道|弄清楚|搞清楚|确认|求证|查|查查|查询|看|看看|说|说说|讲|讲讲|解释|介绍"
    r"|告诉|告知|回答|解答|科普|指点|指教|帮忙|帮助)"
)
_A_BIT = r"(?:一下子?|一下下|下|个问题|一个问题|一件事|件事)"
# Who may have asked the asker a question: family, people at work or school, anyone.
_RELAYER = (
    r"(?:妈|爸|妈妈|爸爸|老妈|老爸|爷爷|奶奶|外婆|外公|姥姥|姥爷|儿子|女儿|孩子|小孩|老婆|老公|媳妇|对象"
    r"|男朋友|女朋友|老板|领导|上司|同事|室友|邻居|客户|面试官|别人|有人|" + _PEOPLE_NOUNS + r")们?"
)

# Expressions that open a clause, before the question proper.
_OPENERS = (
    # First, before 有人 alone: a question relayed from someone else (我妈刚才问我…, 老师问我们…),
    # often with no comma before the question, so the frame would sit in the very clause that asks,
    # where no aside rule looks.
    r"(?:我的?)?" + _RELAYER + r"(?:刚才|刚刚|今天|昨天|昨晚|前几天|之前|早上|晚上)?问(?:我们|我)",
    r"(?:大家|各位|诸位)?" + _PEOPLE + r"?(?:好|早上好|上午好|中午好|下午好|晚上好)(?:呀|啊|哇)?",
    r"(?:你好|您好|大家好|哈喽|哈啰|嗨|嘿|早上好|下午好|晚上好)(?:呀|啊|哇)?",
    r"(?:hi|hello|hey)(?![a-z])",
    r"(?:不好意思|打扰|冒昧地?问|冒昧|劳驾|抱歉|对不起)了?(?:一下)?(?:" + _WHO + r")?",
    r"(?:我|本人|小白|新人|萌新)?(?:想|想要|很想|特别想|有点想|一直想)?(?:请问|请教|问问|问一下|问下|咨询|打听)"
    + _A_BIT
    + r"?",
    r"(?:我|本人|小白|新人|萌新)?(?:想|想要|很想|特别想|有点想|一直想)" + _POLITE_VERB + _A_BIT + r"?",
    r"(?:麻烦|劳烦|烦请|烦劳|拜托|恳请)" + _WHO + r"?(?:帮我|帮忙|给我)?" + _POLITE_VERB + r"?" + _A_BIT + r"?",
    # 请 alone opens content too (请辞, 请愿): only 请 with whom or what it asks.
    r"请(?:" + _WHO + r"(?:帮我|帮忙|给我)?|(?:帮我|帮忙|给我))" + _POLITE_VERB + r"?" + _A_BIT + r"?",
    r"请" + _POLITE_VERB + _A_BIT,
    # 告诉我, 能告诉我, 帮我查一下: the verb alone (查理, 看守所) is content, so a frame word must stand with it.
    r"(?:能|能不能|可以|可不可以|能否|可否|是否可以|方便)(?:请)?"
    + _WHO
    + r"?(?:帮我|帮忙|给我)?"
    + _POLITE_VERB
    + r"(?:我|我们|一下|下)*",
    _WHO + r"?(?:帮我|帮忙|给我)" + _POLITE_VERB + r"(?:我|我们|一下|下)*",
    r"(?:告诉|告知|说说|讲讲|解释|介绍|查|查查|查一查|看看|回答|解答|科普)(?:我|我们|一下|下)+",
    # 谁 and 哪位 are the question itself unless a verb of knowing follows (谁知道, 哪位大佬了解).
    # 有大神知道 as 有人知道: the closers below take any of _PEOPLE after 有 already.
    r"(?:(?:有没有|有)(?:人|谁|" + _PEOPLE + r")|哪位|谁)(?:" + _PEOPLE + r")?(?:能|可以|会)?"
    r"(?:知道|清楚|晓得|了解|懂)的?",
    r"(?:有人|有谁|有没有人|有没有谁)(?:" + _PEOPLE + r")?",
    r"(?:你|您|大家|各位)(?:知道|清楚|晓得|了解)",
    r"(?:求助|求问|求教|求解答|求科普|小白求问|新人求问|萌新求问|弱弱地?问一下|弱弱地?问)",
    r"(?:那个|就是说|嗯+|额+|呃+|话说回来|话说|对了|问题是|我的问题是)",
)

# Expressions that close a clause, after the question proper.
_CLOSERS = (
    r"(?:谢谢|多谢|感谢|感激|谢过|谢了|蟹蟹|3q|thx|thanks|thank you)" + _WHO + r"?(?:了|啦|啊|呀|哈)?",
    r"(?:非常|十分|万分|提前|先|在此)(?:感谢|谢谢|谢过|感激)(?:了|啦)?",
    r"(?:先谢|先行谢过)",
    r"(?:麻烦|辛苦|打扰|拜托)" + _WHO + r"(?:了|啦)?",
    r"(?:麻烦|辛苦|打扰|拜托)(?:了|啦)",
    r"(?:在线等|线上等|坐等|等回复|等答案|急急急|急求|跪求|在线急等)(?:回复|答案|解答)?",
    r"(?:求|求个|求一个)(?:解答|答案|解惑|回复|指点|指教|科普|告知|大神|大佬|高手)+(?:解答|回复|指点)?",
    r"(?:有没有|有无|哪位|谁)(?:人|" + _PEOPLE + r")?(?:能|可以|来)?(?:知道|解答|回答|指点|科普|告诉我|说说)"
    r"(?:的|一下|下)?",
    r"(?:有没有|有无)(?:人|" + _PEOPLE + r")",
    r"(?:有)?(?:人|" + _PEOPLE + r")(?:能|可以|来)?(?:知道|解答|回答|指点|科普|告诉我|说说)(?:的|一下|下)?",
    r"(?:请|请求)?(?:" + _WHO + r")(?:帮忙|指教|赐教|解答|回答|指点)(?:一下|下)?",
    r"(?:哈哈+|呵呵+|嘿嘿+|嘻嘻+)",
)

# Expressions dropped only when they are a whole clause (急 and 在线 are content inside one).
_WHOLE = re.compile(
    r"(?:挺|很|好|比较|非常|特别|真的|十分|有点)?(?:急|着急)(?:的|啊|呀|哈)?|在线|线上|等你|等回复|拜托|谢|求|请"
)

# Sentence-final particles, taken off a clause's end (they are stop words, but they would still make
# the clause look as if it held something). Not 吧, 么 or 嘛 (酒吧, 为什么, 干嘛), nor 吗 and 呢, which
# mark a question and are left to the interrogative rule.
_PARTICLES = "啊呀哦啦喔呐哇嘞"


@cache
def _edges() -> tuple[re.Pattern[str], re.Pattern[str]]:
    # No "^": match() anchors at the clause start it is given, where "^" would not match.
    opener = re.compile("(?:" + "|".join(_OPENERS) + ")")
    closer = re.compile("(?:" + "|".join(_CLOSERS) + f"|[{_PARTICLES}])$")
    return opener, closer


# A question's clauses for the decline rule: between punctuation, but not between the words of a Latin
# name (MIT OpenCourseWare) nor at the point of a number (1.9).
_QUESTION_CLAUSE = re.compile(r"[^，,。！!？?；;：:~～、…]+")


def clauses(normalised: str) -> list[tuple[str, str]]:
    """The clauses of a normalised question (say, with its chat taken off), in order, each with the
    punctuation mark that ends it ("" for none)."""
    return [
        (m.group(), normalised[m.end() : m.end() + 1])
        for m in _QUESTION_CLAUSE.finditer(normalised)
        if m.group().strip()
    ]


def chat_spans(normalised: str) -> list[tuple[int, int]]:
    """The spans of a normalised question that are only conversation, in order: the expressions at
    each clause's edges, and whole clauses that were nothing else."""
    opener, closer = _edges()
    spans = []
    for clause in _CLAUSE.finditer(normalised):
        start, end = clause.span()
        while start < end:
            m = opener.match(normalised, start, end)
            if not m or m.end() == start:
                break
            start = m.end()
        while start < end:
            m = closer.search(normalised, start, end)
            if not m or m.start() == end:
                break
            end = m.start()
        if start < end and _WHOLE.fullmatch(normalised, start, end):
            start = end
        if start > clause.start():
            spans.append((clause.start(), start))
        if end < clause.end() and end > start:
            spans.append((end, clause.end()))
        elif start == end and start < clause.end():
            spans.append((start, clause.end()))
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(e, out[-1][1]))
        else:
            out.append((s, e))
    return out


def without_chat(normalised: str) -> str:
    """normalised with its conversational parts replaced by "，", so that jieba cuts what remains as it
    would cut the bare question and no character n-gram is made across a gap. Unchanged where there
    is no chat; "" where there is nothing else."""
    spans = chat_spans(normalised)
    if not spans:
        return normalised
    out, last = [], 0
    for s, e in spans:
        out.append(normalised[last:s])
        out.append("，")
        last = e
    out.append(normalised[last:])
    text = "".join(out)
    return text if _CONTENT.search(text) else ""


# Something that can be a term: a letter or digit of any script.
_CONTENT = re.compile(r"[^\W_]")
