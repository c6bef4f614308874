"""The tagger's faster Viterbi gives jieba.posseg's answers exactly, ties included."""

from __future__ import annotations

import random

import jieba
import jieba.posseg
import pytest
from jieba.posseg import char_state_tab_P, emit_P, start_P, trans_P
from jieba.posseg.viterbi import viterbi as jieba_viterbi

from wenda.retrieval.tagger import FastPOSTokenizer, viterbi

SENTENCES = [
    "张学良生于辽宁省海城县，后来到了北京。",
    "欧阳娜娜和王小明在上海市浦东新区见面。",
    "据新华社北京10月26日电，国家主席习近平在人民大会堂会见了来访的法国总统马克龙。",
    "衢州市副市长徐文光出席了开幕式并致辞。",
    "凯法利尼亚岛位于希腊西部，居民约有三万五千人。",
    "阿卜杜拉·本·侯赛因是约旦国王。",
    "中国信息通信研究院的专家认为数据要素作用明显。",
    "The iPhone 15 在2023年发布，售价5999元。",
]


@pytest.fixture(scope="module")
def taggers() -> tuple[jieba.posseg.POSTokenizer, FastPOSTokenizer]:
    tokenizer = jieba.Tokenizer()
    return jieba.posseg.POSTokenizer(tokenizer), FastPOSTokenizer(tokenizer)


def _random_texts(n: int, seed: int = 7) -> list[str]:
    """Runs of characters the HMM must guess: common, rare and name characters mixed."""
    rng = random.Random(seed)
    pool = (
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所"
        "民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
        "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想"
        "已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
        "几九区强放决西被干做必战先回则任取据处府张李王陈刘杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余"
        "于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严欧莫孔向"
        "常汤康易乔赖文"
    )
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 24))) for _ in range(n)]


@pytest.mark.parametrize("text", _random_texts(300))
def test_viterbi_is_jiebas(text: str):
    assert viterbi(text) == jieba_viterbi(text, char_state_tab_P, start_P, trans_P, emit_P)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_the_tagger_tags_as_jiebas_does(taggers, sentence: str):
    theirs, ours = taggers
    assert [(p.word, p.flag) for p in ours.cut(sentence)] == [(p.word, p.flag) for p in theirs.cut(sentence)]
