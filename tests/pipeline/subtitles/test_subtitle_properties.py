"""Properties of the subtitle builder over arbitrary text, speech maps, timelines and frame rates."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from ltb.languages import LANGUAGES
from ltb.timeline import Span
from pipeline.subtitles import (
    Cue,
    TimedText,
    build_cues,
    conformance,
    split_sentences,
    write_srt,
    write_vtt,
)

# Letters, marks and punctuation of each script, with spaces and line breaks.
_LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ éèàüößñçãõ 0123456789 .,;:!?¿¡'\"()-–—…«»"
SCRIPT_ALPHABETS: dict[str, str] = {
    **dict.fromkeys(("en", "fr", "de", "pt", "es", "it", "id", "tr"), _LATIN),
    "vi": _LATIN + "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđ",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГД .,;:!?«»—0123456789",
    "el": "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώΑΒΓΔ .,;·;!0123456789",
    "ar": "ابتثجحخدذرسشصضطظعغفقكلمنهويءآأإةى ًٌٍَُِّْ ،؛؟.!0123456789٠١٢",
    "hi": "अआइईउऊएऐओऔकखगघचछजझटठडढतथदधनपफबभमयरलवशसह ािीुूेैोौंँ्ः।॥,?! ०१२",
    "th": "กขคงจฉชซญดตถทนบปผพฟมยรลวสหอฮ ัิีึืุูเแโใไ่้๊๋็์ะาำ ๆ0123456789?!",
    "zh": "的一是不了人我在有他这中大来上个们到说时地也子就道你好吗呢吧。，、！？；：「」“”（）ABC123. ",
    "yue": "嘅係唔咗喺嚟佢哋啲乜嘢點冇咁噉呀啦喎。，、！？「」ABC123 ",
    "ja": "あいうえおかきくけこさしすせそっゃゅょーアイウエオッャ日本語学校先生今。、！？「」（）ABC123 ",
    "ko": "가나다라마바사아자차카타파하는을를이가에서와과 .,!?0123456789",
}
# Characters that are easy to get wrong: invisible letters and joiners, stacked marks, line
# separators, "-->", and scripts without spaces.
AWKWARD = "中文aé \u200d\u3164\u115f\ufe0f\u0301\u0e48\u200b\u200e\u2028\r\n\t-->。,.?"
FRAME_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0)

langs = st.sampled_from(sorted(LANGUAGES))


@st.composite
def texts(draw: st.DrawFn, lang: str) -> str:
    """Anything at all, text in the target's own script, or awkward characters."""
    return draw(
        st.one_of(
            st.text(max_size=300),
            st.text(alphabet=SCRIPT_ALPHABETS[lang], max_size=500),
            st.text(alphabet=AWKWARD, max_size=200),
        )
    )


@st.composite
def speech_regions(draw: st.DrawFn, start_s: float) -> tuple[tuple[Span, ...], float]:
    """Sorted, non-overlapping regions from `start_s`, and where the last one ends."""
    regions: list[Span] = []
    clock_s = start_s
    for gap_s, length_s in draw(
        st.lists(
            st.tuples(
                st.floats(0.0, 20.0, allow_nan=False),
                st.floats(0.0, 15.0, allow_nan=False),
            ),
            max_size=6,
        )
    ):
        regions.append(Span(clock_s + gap_s, clock_s + gap_s + length_s))
        clock_s += gap_s + length_s
    return tuple(regions), clock_s


@st.composite
def jobs(
    draw: st.DrawFn, *, text_kind: st.SearchStrategy[str] | None = None
) -> tuple[str, list[TimedText], float, float]:
    """A target, chunks laid along the timeline in order, the timeline's end and a frame rate."""
    lang = draw(langs)
    chunks: list[TimedText] = []
    clock_s = draw(st.floats(0.0, 5.0))
    for _ in range(draw(st.integers(1, 4))):
        chunk_start_s = clock_s
        regions, clock_s = draw(speech_regions(clock_s))
        clock_s += draw(st.floats(0.0, 3.0))
        text = draw(text_kind if text_kind is not None else texts(lang))
        chunks.append(TimedText(text, regions, Span(chunk_start_s, clock_s)))
    timeline_end_s = draw(
        st.one_of(
            st.just(clock_s + 1.0),
            st.floats(0.0, clock_s + 10.0),
            st.floats(0.0, 0.05),
        )
    )
    return lang, chunks, timeline_end_s, draw(st.sampled_from(FRAME_RATES))


def assert_valid(cues: list[Cue], timeline_end_s: float) -> None:
    for cue in cues:
        assert 0.0 <= cue.start_s < cue.end_s <= timeline_end_s
        # Whole milliseconds, so what is checked is exactly what the writers print.
        assert round(cue.start_s * 1000) / 1000 == cue.start_s
        assert round(cue.end_s * 1000) / 1000 == cue.end_s
        assert 1 <= len(cue.lines) <= 2
        assert all(line.strip() for line in cue.lines)
    for cue, following in pairwise(cues):
        assert cue.end_s <= following.start_s


@settings(deadline=None, max_examples=300)
@given(job=jobs())
def test_any_input_gives_valid_cues_and_files(job, read_srt, read_vtt) -> None:
    lang, chunks, timeline_end_s, fps = job
    cues = build_cues(chunks, lang, timeline_end_s=timeline_end_s, fps=fps)
    assert_valid(cues, timeline_end_s)
    assert len(read_srt(write_srt(cues))) == len(cues)
    assert len(read_vtt(write_vtt(cues))) == len(cues)
    report = conformance(cues, lang, fps=fps).as_dict()
    assert report["cue_count"] == len(cues)
    assert all(0.0 <= value <= 1.0 for key, value in report.items() if isinstance(value, float))


@settings(deadline=None)
@given(data=st.data())
def test_chunks_in_any_order_and_overlapping_still_give_valid_cues(data) -> None:
    lang = data.draw(langs)
    chunks = [
        TimedText(
            data.draw(texts(lang)),
            data.draw(speech_regions(data.draw(st.floats(0.0, 60.0))))[0],
            Span(*sorted(data.draw(st.tuples(st.floats(-5.0, 90.0), st.floats(-5.0, 90.0))))),
        )
        for _ in range(data.draw(st.integers(1, 5)))
    ]
    timeline_end_s = data.draw(st.floats(0.0, 100.0))
    cues = build_cues(chunks, lang, timeline_end_s=timeline_end_s)
    assert_valid(cues, timeline_end_s)
    write_srt(cues)


# Visible characters only: the builder may drop controls and invisible characters, and turns
# "-->" into an arrow, so those are left out where every character must come through.
_VISIBLE = st.characters(
    categories=("L", "N", "P", "S"), exclude_characters=">\u115f\u1160\u3164\uffa0"
)


@settings(deadline=None)
@given(
    job=jobs(text_kind=st.text(alphabet=st.one_of(_VISIBLE, st.sampled_from(" \n")), max_size=300))
)
def test_every_visible_character_is_shown_once_in_order(job) -> None:
    lang, chunks, timeline_end_s, fps = job
    cues = build_cues(chunks, lang, timeline_end_s=max(timeline_end_s, 0.001), fps=fps)
    shown = "".join("".join(line.split()) for cue in cues for line in cue.lines)
    assert shown == "".join("".join(chunk.text.split()) for chunk in chunks)


@settings(deadline=None)
@given(data=st.data())
def test_realistic_text_always_fits_the_line_rules(data, phrases, joiner) -> None:
    lang = data.draw(langs)
    sentences = data.draw(st.lists(st.sampled_from(phrases[lang]), min_size=1, max_size=12))
    start_s = data.draw(st.floats(0.0, 10.0))
    regions, end_s = data.draw(speech_regions(start_s))
    chunk = TimedText(joiner(lang, sentences), regions, Span(start_s, end_s + 1.0))
    cues = build_cues([chunk], lang, timeline_end_s=end_s + data.draw(st.floats(1.0, 10.0)))
    report = conformance(cues, lang)
    assert report.max_chars_per_line == 1.0
    assert report.max_lines == 1.0


@given(lang=langs, text=st.text(alphabet=st.one_of(_VISIBLE, st.sampled_from(" \n")), max_size=400))
def test_sentence_splitting_loses_no_visible_text(lang: str, text: str) -> None:
    sentences = split_sentences(text, lang)
    assert all(sentence and sentence == sentence.strip() for sentence in sentences)
    assert "".join("".join(sentence.split()) for sentence in sentences) == "".join(text.split())


@given(lang=langs, text=st.text(max_size=400))
def test_sentence_splitting_accepts_any_text(lang: str, text: str) -> None:
    for sentence in split_sentences(text, lang):
        assert sentence.strip()
        assert sentence.splitlines() == [sentence]
