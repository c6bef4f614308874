"""Chatty variants of a SQuAD-style evaluation file: each question phrased as people write in a chat.

    python bench/chatty.py ../shared/eval/cmrc2018_trial.json bench/out/cmrc_chatty.json
    python bench/chatty.py ../shared/eval/drcd_test.json bench/out/drcd_chatty.json --templates heldout

Every question gets one template, chosen by a hash of its id, so a file's variants are the same on
every run. The templates wrap the bare question in greetings, politeness, filler and particles; the
question's own words are never changed. A Traditional-script file gets its templates in Traditional,
as its writers would type them. `dev` templates were used while building wenda's chat list;
`heldout` ones checked it on phrasings it was not built with (and found 線上等, the Taiwanese
在线等, which was then added); `fresh` ones showed what a list cannot catch and led to the aside
rule; `final` ones were written last and measured once with each aside rule, never tuned on;
`check` ones were written before the aside rule read words instead of length, and measured only once
it was done; `blind` ones were written before the aside rule learnt to read words jieba makes up,
and measured only once that was chosen; `late` ones likewise for the change after that, `next`
for the one after it, `hold` for the one after that, `eve` for
the one after `hold` was read, `dawn` for the here-and-now rule, `noon` for the Traditional
著 and `dusk` for the scene standing apart (all measured, so all spent), and `owl`, not yet measured,
for the next change. `all` is every one.
Then: wenda eval bench/out/cmrc_chatty.json --out-of-corpus bench/out/drcd_chatty.json
"""

from __future__ import annotations

import argparse
import json
import re
import zlib
from pathlib import Path

import opencc

# {q} is the bare question without its final punctuation; {p} is that punctuation (？ if it had none).
DEV = (
    "请问{q}{p}",
    "你好！能告诉我{q}吗？",
    "{q}{p}谢谢！",
    "大家好，有人知道{q}{p}",
    "{q}{p}求解答",
    "麻烦问一下，{q}{p}",
    "想请教一下：{q}{p}多谢了",
    "嗨～我想知道{q}，麻烦大家了",
)
HELDOUT = (
    "各位老师好，{q}{p}在线等，挺急的",
    "打扰一下，{q}呀？",
    "{q}{p}有没有大佬解答一下啊",
    "您好，请帮我查一下{q}，感谢！",
)
# Written after the chat list was done; they showed that a list alone misses asides it does not know
# (我是新来的, 感激不尽, 小白提问), which led to relevance.asides.
FRESH = (
    "老师您好，我是新来的，{q}{p}",
    "{q}{p}麻烦解答下，感激不尽",
    "在吗？{q}{p}",
    "哈喽哈喽，{q}{p}先谢过啦~",
    "{q}{p}急，在线等答案",
    "小白提问：{q}{p}",
)
# Written last, after everything above was built, and measured once: phrasings nothing in wenda was
# shaped by.
FINAL = (
    "早上好！想跟大家确认一件事，{q}{p}",
    "{q}{p}这个问题困扰我好久了",
    "同学们晚上好，老师布置的作业里有一题：{q}{p}",
    "冒昧问一句，{q}{p}",
    "{q}{p}蟹蟹各位",
    "求问～{q}{p}多谢多谢！",
)
# Written for issue 15 before the aside rule was changed to read words instead of length, and not
# looked at until that rule was done: long asides before and after, in clauses of their own, with
# greetings and without.
CHECK = (
    "大家晚上好，我最近在准备一个考试，{q}{p}",
    "{q}{p}我查了半天也没找到答案",
    "你好呀，之前一直没想明白，{q}{p}",
    "有个小问题想请教，{q}{p}谢谢你们",
    "{q}{p}刚才跟朋友聊天说到这个，我们都不太确定",
    "各位好，今天看书的时候突然想到一个问题：{q}{p}",
    "不好意思打扰了，我是个学生，{q}{p}",
    "{q}{p}希望有人能帮帮我，非常感谢",
    "周末愉快！突然好奇，{q}{p}",
    "老板让我明天之前整理一份资料，{q}{p}这个我一直记不住，拜托啦",
)
# Written for the next aside change (words jieba makes up, asides out of the ranking) before it was
# begun, and measured only once it was chosen: everyday chat of kinds no family above has (a friend's
# quiz, a report, emoji, a clause that asks the crowd with 吗).
BLIND = (
    "诶，突然想问，{q}{p}",
    "{q}{p}有知道的朋友吗？",
    "我在写一篇报告，需要用到这个：{q}{p}",
    "话说{q}{p}",
    "emmm，{q}{p}",
    "各位前辈，小弟初来乍到，{q}{p}",
    "{q}{p}之前在网上看到过，但是忘了",
    "求助！！！{q}{p}",
    "我朋友考我的，{q}{p}我答不上来",
    "{q}{p}🙏🙏",
    "晚上好呀，今天下班路上一直在想，{q}{p}",
    "{q}{p}谢谢啦，祝大家生活愉快",
)
# Written on 2026-12-06 before the next change to declining or asides was begun, and measured only
# once it was chosen: chat of kinds the families above lack (a crowd addressed by name, a question
# relayed from someone else, a reward, school and exam talk, Latin greetings).
LATE = (
    "兄弟们，{q}{p}",
    "{q}{p}有没有懂的，说一下呗",
    "Hi，{q}{p}",
    "我妈刚才问我{q}{p}我也说不清楚",
    "上课没听懂，{q}{p}",
    "{q}{p}不胜感激！",
    "各位大侠，请教个问题：{q}{p}",
    "今天群里有人在讨论，{q}{p}",
    "{q}{p}答对的发红包哈哈",
    "复习到这里卡住了，{q}{p}求大神指点",
    "打扰各位一下哈，{q}{p}",
    "{q}{p}在线蹲一个答案",
)
# Written on 2026-12-06 after `late` was measured and read, before the change it led to (relayed
# questions, chat.py) was begun; measured only once that change was chosen. One template relays a
# question (同事今天问了我), in words the change was not written from.
NEXT = (
    "{q}{p}坐等大佬回复",
    "刚入门，{q}{p}",
    "朋友圈里看到有人说起，{q}{p}",
    "各位早，{q}{p}",
    "{q}{p}先行谢过",
    "同事今天问了我一个问题：{q}{p}",
    "我跟同事打赌，{q}{p}",
    "{q}{p}求科普",
    "小孩子问的问题：{q}{p}",
    "请各位帮忙看看，{q}{p}",
    "{q}{p}好奇宝宝在线提问",
    "唉，{q}{p}想了一晚上都没想通",
)
# Written at the start of the next session (2026-12-06, 02:50), before the next change to the chat
# rules or the everyday test was begun, and measured only once that change was chosen: chat in words
# no rule was written from (a cousin's errand, a forum's comments, an arts student, exam cramming).
HOLD = (
    "晚安前最后一个问题：{q}{p}",
    "{q}{p}有大神知道吗，跪谢",
    "考试前临时抱佛脚，{q}{p}",
    "我表弟让我帮他查查，{q}{p}",
    "{q}{p}评论区见分晓",
    "新手报道，{q}{p}",
    "帖子里看到一个说法，{q}{p}",
    "{q}{p}蹲一个靠谱的回答",
    "请问一下哈，{q}{p}不懂就问",
    "本人文科生，{q}{p}",
    "{q}{p}搜了好多地方都没说清楚",
    "纯好奇，{q}{p}别笑我",
)
# Written after `hold` was measured and read (2026-12-06, 03:40), before the change it may lead to
# was begun, and measured only once that change is chosen.
EVE = (
    "早啊各位，{q}{p}",
    "{q}{p}一直搞不明白",
    "今天刷题遇到的，{q}{p}",
    "{q}{p}小白一枚，求带",
    "闲着没事想到的：{q}{p}",
    "我女儿的作业题，{q}{p}我也不会",
    "{q}{p}查了百科也没看懂",
    "路过的大佬帮个忙，{q}{p}",
    "{q}{p}答案越详细越好",
    "突然冒出来一个疑问，{q}{p}",
    "{q}{p}感谢感谢，好人一生平安",
    "深夜失眠，{q}{p}",
)
# Written at the end of the stop that measured `eve` (2026-12-06, 04:40), before any next change to
# the chat rules or the aside rule is begun, and not measured: for that change, once it is chosen.
DAWN = (
    "刚下班，{q}{p}",
    "{q}{p}等一个懂行的",
    "在图书馆自习的时候想到，{q}{p}",
    "我爸非要跟我争这个，{q}{p}",
    "{q}{p}百度上众说纷纭",
    "帮室友问的：{q}{p}",
    "第一次发帖，{q}{p}",
    "{q}{p}谢啦，回头请你喝奶茶",
    "看纪录片看到一半，{q}{p}",
    "{q}{p}这题我错了三次了",
    "各位网友晚上好，{q}{p}",
    "上次没问清楚，再问一遍：{q}{p}",
)
# Written at the end of the stop that measured `dawn` (2026-12-06, 07:00), before any next change to
# the chat rules or the aside rule is begun, and not measured: for that change, once it is chosen.
NOON = (
    "开会间隙摸鱼问一句，{q}{p}",
    "{q}{p}小白一枚，轻喷",
    "和同桌打赌输了一顿饭，{q}{p}",
    "{q}{p}急，明天要交报告",
    "周末带孩子逛博物馆被问住了：{q}{p}",
    "{q}{p}有懂的朋友吗",
    "讲真，{q}{p}",
    "我记得以前学过，{q}{p}",
    "{q}{p}先谢过各位",
    "课代表来了吗？{q}{p}",
    "睡前刷手机看到的，{q}{p}",
    "{q}{p}翻遍了课本也没找到",
)
# Written at the end of the stop that measured `noon` (2026-12-06, 07:40), before any next change to
# the chat rules or the aside rule is begun, and not measured: for that change, once it is chosen.
DUSK = (
    "坐地铁无聊，{q}{p}",
    "{q}{p}坐等答案",
    "楼主是个学生党，{q}{p}",
    "{q}{p}谢谢大家的耐心",
    "做题做到怀疑人生：{q}{p}",
    "{q}{p}在线求个准确的说法",
    "老爸考我的，{q}{p}",
    "{q}{p}好奇很久了",
    "有点冒昧，{q}{p}",
    "{q}{p}不确定的就别回了哈",
    "吃饭的时候聊起来，{q}{p}",
    "麻烦各位老师，{q}{p}",
)
# Written after `dusk` was read (2026-12-06, fourth session), not measured: for the next change.
OWL = (
    "晚自习偷偷问一下，{q}{p}",
    "{q}{p}蹲个靠谱答案",
    "追剧追到一半冒出个问题：{q}{p}",
    "{q}{p}先谢过了",
    "帮闺蜜问的，{q}{p}",
    "{q}{p}有没有懂哥",
    "出差路上闲来无事，{q}{p}",
    "萌新求助，{q}{p}",
    "{q}{p}答得好有红包",
    "考研党复习中，{q}{p}",
    "{q}{p}别嫌我问题多",
    "手机打字不方便见谅，{q}{p}",
)
# Written after `owl` was read (2026-12-06, fifth session), not measured: for the next change.
YEW = (
    "路过顺便问一句，{q}{p}",
    "{q}{p}坐等高手解答",
    "地铁上无聊刷到的，{q}{p}",
    "{q}{p}拜托拜托",
    "周五下班前最后一问：{q}{p}",
    "{q}{p}懂的来说说",
    "陪老人聊天聊到这个，{q}{p}",
    "新人报到，{q}{p}",
    "{q}{p}麻烦给个出处",
    "写作业写到一半，{q}{p}",
    "{q}{p}不知道问得对不对",
    "朋友圈看到有人争论，{q}{p}",
)
# Written after `yew` was measured (2026-12-06, sixth session), not measured: for the next change.
ELM = (
    "排队等号的时候想起来，{q}{p}",
    "{q}{p}求个靠谱来源",
    "宿舍夜聊吵起来了，{q}{p}",
    "{q}{p}多谢指点",
    "刚入坑的小白，{q}{p}",
    "{q}{p}说错了别笑我",
    "带娃写作业卡壳了：{q}{p}",
    "{q}{p}等一个明白人",
    "午休睡不着瞎琢磨，{q}{p}",
    "冒个泡，{q}{p}",
    "{q}{p}感觉好多人都搞错了",
    "老师上课提了一嘴，{q}{p}",
)
TEMPLATES = {
    "dev": DEV,
    "heldout": HELDOUT,
    "fresh": FRESH,
    "final": FINAL,
    "check": CHECK,
    "blind": BLIND,
    "late": LATE,
    "next": NEXT,
    "hold": HOLD,
    "eve": EVE,
    "dawn": DAWN,
    "noon": NOON,
    "dusk": DUSK,
    "owl": OWL,
    "yew": YEW,
    "elm": ELM,
    "all": (
        DEV + HELDOUT + FRESH + FINAL + CHECK + BLIND + LATE + NEXT + HOLD + EVE + DAWN + NOON + DUSK + OWL + YEW + ELM
    ),
}
_END = re.compile(r"[？?。.!！\s]+$")


def question_id(paragraph: dict, n: int) -> str:
    """The id of the paragraph's n-th question, or one made from the paragraph if it has none."""
    return str(paragraph["qas"][n].get("id", f"{paragraph['context'][:20]}#{n}"))


def template_for(qid: str, templates: tuple[str, ...]) -> str:
    """The template the question with this id gets: the same on every run."""
    return templates[zlib.crc32(qid.encode("utf-8")) % len(templates)]


def chatty(question: str, qid: str, templates: tuple[str, ...], traditional: bool) -> str:
    """question wrapped in the template its id picks (template_for)."""
    template = template_for(qid, templates)
    if traditional:
        template = _s2t().convert(template)
    bare = _END.sub("", question)
    ending = question[len(bare) :].strip() or "？"
    return template.format(q=bare, p=ending[0])


_CONVERTER: opencc.OpenCC | None = None


def _s2t() -> opencc.OpenCC:
    global _CONVERTER
    if _CONVERTER is None:
        _CONVERTER = opencc.OpenCC("s2twp")
    return _CONVERTER


def _is_traditional(data: dict) -> bool:
    """Whether the file's questions are mostly in Traditional script (converting them changes them)."""
    to_simplified = opencc.OpenCC("t2s")
    sample = [qa["question"] for art in data["data"] for par in art["paragraphs"] for qa in par["qas"]][:200]
    changed = sum(to_simplified.convert(q) != q for q in sample)
    return changed > len(sample) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--templates", choices=sorted(TEMPLATES), default="dev")
    args = parser.parse_args()
    data = json.loads(args.source.read_text(encoding="utf-8"))
    templates = TEMPLATES[args.templates]
    traditional = _is_traditional(data)
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for n, qa in enumerate(paragraph["qas"]):
                qa["question"] = chatty(qa["question"], question_id(paragraph, n), templates, traditional)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
