"""Sentence and clause splitting for every target script."""

from __future__ import annotations

import pytest

from ltb.languages import LANGUAGES
from pipeline.subtitles import split_clauses, split_sentences


@pytest.mark.parametrize(
    ("lang", "text", "sentences"),
    [
        pytest.param(
            "en",
            "Dr. Smith paid 3.5 dollars, e.g. for lunch. Then he left.",
            ["Dr. Smith paid 3.5 dollars, e.g. for lunch.", "Then he left."],
            id="en-decimal-and-abbreviations",
        ),
        pytest.param(
            "en",
            "I met Mr. Jones and J. K. Rowling in the U.S. yesterday. It was fun.",
            ["I met Mr. Jones and J. K. Rowling in the U.S. yesterday.", "It was fun."],
            id="en-titles-and-initials",
        ),
        pytest.param(
            "en",
            "Wait... what? No! Neither did I. Good.",
            ["Wait... what?", "No!", "Neither did I.", "Good."],
            id="en-ellipsis-runs-on-lower-case",
        ),
        pytest.param(
            "en",
            'He said "Go." Then he left.',
            ['He said "Go."', "Then he left."],
            id="en-closing-quote-stays",
        ),
        pytest.param(
            "es",
            "¿Dónde estás? ¡Ven aquí! Vale.",
            ["¿Dónde estás?", "¡Ven aquí!", "Vale."],
            id="es-inverted-marks-stay-attached",
        ),
        pytest.param(
            "fr",
            "Tu viens ? Oui ! Très bien.",
            ["Tu viens ?", "Oui !", "Très bien."],
            id="fr-spaced-marks",
        ),
        pytest.param(
            "de",
            "Das kostet 2.500 Euro, z.B. für Hr. Meier. Danke.",
            ["Das kostet 2.500 Euro, z.B. für Hr. Meier.", "Danke."],
            id="de-thousands-and-abbreviations",
        ),
        pytest.param(
            "zh",
            "你好。我是学生！你呢？好的，谢谢、再见",
            ["你好。", "我是学生！", "你呢？", "好的，谢谢、再见"],
            id="zh-full-width",
        ),
        pytest.param(
            "zh",
            "他说：“走吧。”我们就走了。价格是3.5元。",
            ["他说：“走吧。”", "我们就走了。", "价格是3.5元。"],
            id="zh-closing-quote-and-decimal",
        ),
        pytest.param(
            "ja",
            "今日は晴れです。明日は雨でしょうか？「はい！」",
            ["今日は晴れです。", "明日は雨でしょうか？", "「はい！」"],
            id="ja-full-width",
        ),
        pytest.param(
            "yue",
            "你好！我哋走啦。",
            ["你好！", "我哋走啦。"],
            id="yue-full-width",
        ),
        pytest.param(
            "ko",
            "안녕하세요. 반갑습니다! 어디 가요?",
            ["안녕하세요.", "반갑습니다!", "어디 가요?"],
            id="ko-spaced",
        ),
        pytest.param(
            "ar",
            "مرحبا، كيف حالك؟ أنا بخير. شكرا جزيلا؛ إلى اللقاء",
            ["مرحبا، كيف حالك؟", "أنا بخير.", "شكرا جزيلا؛ إلى اللقاء"],
            id="ar-question-mark-and-comma",
        ),
        pytest.param(
            "hi",
            "मैं ठीक हूँ। आप कैसे हैं? धन्यवाद॥ फिर मिलेंगे",
            ["मैं ठीक हूँ।", "आप कैसे हैं?", "धन्यवाद॥", "फिर मिलेंगे"],
            id="hi-danda-and-double-danda",
        ),
        pytest.param(
            "el",
            "Τι κάνεις; Καλά. Εσύ\u037e Τέλεια!",
            ["Τι κάνεις;", "Καλά.", "Εσύ\u037e", "Τέλεια!"],
            id="el-question-mark-is-a-semicolon",
        ),
        pytest.param(
            "ru",
            "Это стоит 3,5 тыс. рублей, т.е. недорого. Да.",
            ["Это стоит 3,5 тыс. рублей, т.е. недорого.", "Да."],
            id="ru-abbreviations",
        ),
        pytest.param(
            "th",
            "สวัสดีครับ  วันนี้อากาศดีมาก ไปเที่ยวกันไหม",
            ["สวัสดีครับ", "วันนี้อากาศดีมาก", "ไปเที่ยวกันไหม"],
            id="th-phrases-at-spaces",
        ),
    ],
)
def test_split_sentences(lang: str, text: str, sentences: list[str]) -> None:
    assert split_sentences(text, lang) == sentences


def test_a_semicolon_ends_a_sentence_only_in_greek() -> None:
    assert split_sentences("Come here; now.", "en") == ["Come here; now."]
    assert split_sentences("Έλα εδώ; Τώρα.", "el") == ["Έλα εδώ;", "Τώρα."]


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_joined_phrases_split_back_into_the_phrases(
    lang: str, phrases: dict[str, list[str]], joiner
) -> None:
    expected = phrases[lang]
    if lang == "th":
        # Thai has no sentence marks: its phrases are what the spaces separate.
        expected = [phrase for line in expected for phrase in line.split(" ")]
    assert split_sentences(joiner(lang, phrases[lang]), lang) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b", "\u200e"])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text, "en") == []
    assert split_clauses(text, "zh") == []


def test_whitespace_and_line_breaks_collapse() -> None:
    assert split_sentences("One\r\ntwo.\n\nThree  four.", "en") == ["One two.", "Three four."]


@pytest.mark.parametrize(
    ("lang", "text", "clauses"),
    [
        (
            "en",
            "Well, 1,000 people came; they left: all of them.",
            ["Well,", "1,000 people came;", "they left:", "all of them."],
        ),
        (
            "zh",
            "好的，谢谢、再见；明天见：拜拜。",
            ["好的，", "谢谢、", "再见；", "明天见：", "拜拜。"],
        ),
        ("ja", "はい、わかりました。", ["はい、", "わかりました。"]),
        ("ar", "مرحبا، كيف حالك؛ بخير", ["مرحبا،", "كيف حالك؛", "بخير"]),
        ("el", "Ναι· ήρθε, αλλά έφυγε; Ναι.", ["Ναι·", "ήρθε,", "αλλά έφυγε;", "Ναι."]),
        ("hi", "हाँ, मैं आया। ठीक है", ["हाँ,", "मैं आया।", "ठीक है"]),
    ],
)
def test_split_clauses(lang: str, text: str, clauses: list[str]) -> None:
    assert split_clauses(text, lang) == clauses
