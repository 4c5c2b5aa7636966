"""Line breaking: where the two lines of a cue split, per language and script."""

from __future__ import annotations

import unicodedata

import pytest

from ltb.timeline import Span
from pipeline.subtitles import TimedText, build_cues
from pipeline.subtitles.line_breaks import layout_lines
from pipeline.subtitles.rules import rules_for
from pipeline.subtitles.tokens import tokenize

# The tests' own list, independent of the builder's word lists.
ARTICLES = {
    "en": {"the", "a", "an"},
    "fr": {"le", "la", "les", "un", "une", "des", "du"},
    "de": {"der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer"},
    "es": {"el", "la", "los", "las", "un", "una", "unos", "unas"},
    "it": {"il", "lo", "la", "i", "gli", "le", "un", "uno", "una"},
    "pt": {"o", "os", "as", "um", "uma"},
    "el": {"ο", "η", "το", "οι", "τα", "τον", "την", "της", "του"},
}


def lines_for(text: str, lang: str) -> tuple[str, ...] | None:
    rules = rules_for(lang)
    return layout_lines(tokenize(text, rules=rules), rules=rules)


def most_balanced_split(text: str, max_chars: int) -> tuple[str, str]:
    """What a break chosen by balance alone would do."""
    words = text.split(" ")
    candidates = [(" ".join(words[:cut]), " ".join(words[cut:])) for cut in range(1, len(words))]
    fitting = [pair for pair in candidates if max(map(len, pair)) <= max_chars]
    return min(fitting, key=lambda pair: abs(len(pair[0]) - len(pair[1])))


def last_word(line: str) -> str:
    return line.rsplit(" ", 1)[-1].lower()


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "I would really love to visit a beautiful island in the Pacific"),
        ("de", "Ich habe heute Morgen in der Stadt einen alten Freund getroffen"),
        ("de", "Wir haben gestern mit der ganzen Familie den Zoo besucht"),
        ("es", "Ayer vimos en el centro de la ciudad a los amigos de Pedro"),
        ("fr", "Hier soir nous sommes allés voir le nouveau film au cinéma du quartier"),
        ("it", "Ieri sera siamo andati a vedere il nuovo film al cinema del quartiere"),
    ],
)
def test_line_one_never_ends_with_an_article(lang: str, text: str) -> None:
    max_chars = rules_for(lang).max_chars_per_line
    # The case is a real one: breaking by balance alone would strand the article.
    assert last_word(most_balanced_split(text, max_chars)[0]) in ARTICLES[lang]
    lines = lines_for(text, lang)
    assert lines is not None
    assert len(lines) == 2
    assert last_word(lines[0]) not in ARTICLES[lang]
    assert " ".join(lines) == text
    assert all(len(line) <= max_chars for line in lines)


def test_no_cue_line_ends_with_an_article_across_a_generated_script(phrases, joiner) -> None:
    for lang, articles in ARTICLES.items():
        text = joiner(lang, phrases.get(lang, [])) or ""
        chunk = TimedText(text, (Span(0.0, len(text) / 14),), Span(0.0, len(text) / 14))
        for cue in build_cues([chunk], lang, timeline_end_s=len(text) / 14 + 1):
            assert all(last_word(line) not in articles for line in cue.lines), (lang, cue)


def test_breaks_after_punctuation_when_it_is_near_the_middle() -> None:
    assert lines_for("When we finally arrived at the station, the train had left.", "en") == (
        "When we finally arrived at the station,",
        "the train had left.",
    )
    assert lines_for("Il pleuvait beaucoup ce matin-là ; nous sommes restés chez nous.", "fr") == (
        "Il pleuvait beaucoup ce matin-là ;",
        "nous sommes restés chez nous.",
    )


def test_breaks_before_a_conjunction_or_preposition() -> None:
    assert lines_for("I wanted to call you yesterday but my phone was broken", "en") == (
        "I wanted to call you yesterday",
        "but my phone was broken",
    )
    assert lines_for(
        "Wir treffen uns morgen früh vor der alten Kirche in der Innenstadt", "de"
    ) == (
        "Wir treffen uns morgen früh",
        "vor der alten Kirche in der Innenstadt",
    )


def test_text_that_fits_stays_on_one_line() -> None:
    assert lines_for("Did you see the game last night?", "en") == (
        "Did you see the game last night?",
    )


def test_spaced_punctuation_stays_with_its_word() -> None:
    lines = lines_for("Est-ce que tu as vraiment vu le match d'hier soir au stade ?", "fr")
    assert lines is not None
    assert not lines[1].startswith("?")
    assert lines[1].endswith("stade ?")


def test_hindi_never_breaks_before_a_postposition() -> None:
    text = "मेरा भाई हर सुबह स्टेशन के पास एक छोटी बेकरी में काम करता है"
    lines = lines_for(text, "hi")
    assert lines is not None
    assert len(lines) == 2
    assert lines[1].split(" ")[0] not in {"का", "की", "के", "में", "पर", "से", "को", "ने", "तक"}


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        (
            "zh",
            "今天天气很好，我们一起去公园散步吧。",
            ("今天天气很好，", "我们一起去公园散步吧。"),
        ),
        (
            "yue",
            "今日天氣好好，我哋一齊去公園散步啦。",
            ("今日天氣好好，", "我哋一齊去公園散步啦。"),
        ),
        ("ja", "皆さん、おはようございます。", ("皆さん、", "おはようございます。")),
    ],
)
def test_cjk_breaks_at_punctuation(lang: str, text: str, expected: tuple[str, str]) -> None:
    assert lines_for(text, lang) == expected


def test_cjk_without_punctuation_breaks_between_characters_within_the_limit() -> None:
    lines = lines_for("我哥哥在车站附近的一家小面包店工作", "zh")
    assert lines is not None
    assert len(lines) == 2
    assert "".join(lines) == "我哥哥在车站附近的一家小面包店工作"
    assert all(len(line) <= 16 for line in lines)


@pytest.mark.parametrize(
    "text",
    [
        "今日は来てくれてありがとうございます。",
        "ちょっと待ってください、コーヒーを買ってきます。",
        "「ありがとう」と言ってくれて嬉しかった。",
    ],
)
def test_japanese_lines_never_start_with_small_kana_or_closing_marks(text: str) -> None:
    lines = lines_for(text, "ja")
    assert lines is not None
    for line in lines[1:]:
        assert line[0] not in "っゃゅょぁぃぅぇぉッャュョーー、。」』）！？"
    for line in lines[:-1]:
        assert line[-1] not in "「『（"
    assert "".join(lines) == text


def test_japanese_keeps_a_particle_with_its_noun() -> None:
    assert lines_for("昨日の夜の試合を見ましたか？", "ja") == ("昨日の夜の試合を", "見ましたか？")


def test_thai_breaks_only_at_the_spaces_between_phrases() -> None:
    text = "พี่ชายของผมทำงานที่ร้านขนมปังเล็กๆ ใกล้สถานีรถไฟกลางเมือง"
    lines = lines_for(text, "th")
    assert lines == ("พี่ชายของผมทำงานที่ร้านขนมปังเล็กๆ", "ใกล้สถานีรถไฟกลางเมือง")


def test_a_word_longer_than_a_line_is_cut_between_whole_characters() -> None:
    word = "Donaudampfschifffahrtsgesellschaftskapitänsmützenhalter"
    rules = rules_for("de")
    tokens = tokenize(f"Das ist der {word}.", rules=rules)
    assert all(len(token.text) <= rules.max_chars_per_line for token in tokens)
    assert "".join(token.text for token in tokens) == f"Dasistder{word}."
    thai = "ก" + "่" * 3 + "ขคงจฉชซ" * 6
    for token in tokenize(thai, rules=rules_for("th")):
        assert unicodedata.category(token.text[0]) != "Mn"


@pytest.mark.parametrize("lang", ["zh", "en", "th"])
def test_invisible_characters_never_make_a_token_of_their_own(lang: str) -> None:
    text = "\u3164中\u3164文 \u200dword\u115f \ufe0f end"
    for token in tokenize(text, rules=rules_for(lang)):
        assert any(char.isalnum() for char in token.text), token
