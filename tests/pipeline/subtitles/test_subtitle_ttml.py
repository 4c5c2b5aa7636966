"""TTML (IMSC 1.1 Text Profile): the document is read back and its structure checked by hand.

No package on PyPI ships the W3C TTML / IMSC 1.1 XSD schemas (ttconv and imschrm, the IMSC
tools there, carry none), so there is nothing to hand lxml: these tests parse the document
with the standard library's XML parser and check what the profile and the delivery need,
element by element: the namespaces, the root's xml:lang, ttp:contentProfiles (the IMSC 1.1
Text Profile designator) and ttp:timeBase, the region with its origin and extent inside the
safe area, every paragraph's begin/end against the cue, and <br/> between lines.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from ltb.timeline import Span
from pipeline.subtitles import Cue, TimedText, build_cues
from pipeline.subtitles.rules import MAX_LINES, line_length, rules_for
from pipeline.subtitles.ttml import IMSC11_TEXT_PROFILE, write_ttml

TT = "{http://www.w3.org/ns/ttml}"
TTP = "{http://www.w3.org/ns/ttml#parameter}"
TTS = "{http://www.w3.org/ns/ttml#styling}"
XML = "{http://www.w3.org/XML/1998/namespace}"
CLOCK = re.compile(r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})")

CUES = [
    Cue(1.0, 2.5, ("Hello,", "world.")),
    Cue(2.6, 4.0, ("Fish & chips <tonight>",)),
    Cue(3661.001, 3662.999, ("An hour later.",)),
]


def _ms(clock: str) -> int:
    match = CLOCK.fullmatch(clock)
    assert match, f"not an IMSC clock time without frames: {clock!r}"
    hours, minutes, seconds, millis = (int(part) for part in match.groups())
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def _pct_pair(value: str) -> tuple[float, float]:
    parts = value.split()
    assert len(parts) == 2 and all(part.endswith("%") for part in parts), value
    return float(parts[0][:-1]), float(parts[1][:-1])


def _paragraph_lines(p: ET.Element) -> list[str]:
    """The paragraph's lines: text split at <br/>, the only child element allowed."""
    lines = [p.text or ""]
    for child in p:
        assert child.tag == f"{TT}br", f"unexpected element {child.tag} in a paragraph"
        assert not child.attrib and len(child) == 0
        lines.append(child.tail or "")
    return lines


def _read(document: str) -> ET.Element:
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    document.encode("utf-8")
    return ET.fromstring(document.encode("utf-8"))


def test_root_declares_the_imsc_11_text_profile_language_and_media_time() -> None:
    root = _read(write_ttml(CUES, lang="en"))
    assert root.tag == f"{TT}tt"
    assert root.get(f"{XML}lang") == "en"
    assert root.get(f"{TTP}timeBase") == "media"
    assert root.get(f"{TTP}contentProfiles") == IMSC11_TEXT_PROFILE
    assert IMSC11_TEXT_PROFILE == "http://www.w3.org/ns/ttml/profile/imsc1.1/text"
    # Lengths are relative unless the frame is known; then the root's extent is in pixels.
    assert root.get(f"{TTS}extent") is None
    sized = _read(write_ttml(CUES, lang="en", frame_size=(1920, 1080)))
    assert sized.get(f"{TTS}extent") == "1920px 1080px"
    assert [child.tag for child in root] == [f"{TT}head", f"{TT}body"]


def test_the_bottom_region_sits_inside_the_safe_area() -> None:
    root = _read(write_ttml(CUES, lang="en"))
    regions = root.findall(f"{TT}head/{TT}layout/{TT}region")
    assert len(regions) == 1
    region = regions[0]
    assert region.get(f"{XML}id") == "bottom"
    left, top = _pct_pair(region.get(f"{TTS}origin", ""))
    width, height = _pct_pair(region.get(f"{TTS}extent", ""))
    # 10 % margins left, right and below; text stacked from the region's foot.
    assert (left, left + width) == (10.0, 90.0)
    assert top + height == 90.0
    assert top >= 10.0
    assert region.get(f"{TTS}displayAlign") == "after"
    styles = {
        style.get(f"{XML}id"): style for style in root.iter(f"{TT}style") if style.get(f"{XML}id")
    }
    for p in root.iter(f"{TT}p"):
        assert p.get("region") == "bottom"
        assert styles[p.get("style")].get(f"{TTS}textAlign") == "center"


def test_paragraphs_carry_the_cues_times_and_lines_with_br() -> None:
    document = write_ttml(CUES, lang="en")
    assert "Hello,<br/>world." in document
    root = _read(document)
    paragraphs = root.findall(f"{TT}body/{TT}div/{TT}p")
    assert [(_ms(p.get("begin", "")), _ms(p.get("end", ""))) for p in paragraphs] == [
        (1000, 2500),
        (2600, 4000),
        (3661001, 3662999),
    ]
    assert [_paragraph_lines(p) for p in paragraphs] == [list(cue.lines) for cue in CUES]
    ids = [p.get(f"{XML}id") for p in paragraphs]
    assert len(set(ids)) == len(ids)


def test_arabic_paragraphs_run_right_to_left() -> None:
    root = _read(write_ttml([Cue(0.0, 2.0, ("صباح الخير للجميع.",))], lang="ar"))
    assert root.get(f"{XML}lang") == "ar"
    style = root.find(f"{TT}head/{TT}styling/{TT}style")
    assert style is not None and style.get(f"{TTS}direction") == "rtl"
    english = _read(write_ttml(CUES, lang="en")).find(f"{TT}head/{TT}styling/{TT}style")
    assert english is not None and english.get(f"{TTS}direction") is None


@pytest.mark.parametrize("lang", ["en", "de", "zh", "yue", "ja", "th", "ar", "hi"])
def test_cues_built_for_a_language_keep_its_rules_in_ttml(lang: str, phrases, joiner) -> None:
    text = joiner(lang, phrases[lang])
    chunk = TimedText(text=text, speech_regions=(), fallback=Span(2.0, 40.0))
    cues = build_cues([chunk], lang, timeline_end_s=45.0, fps=25.0)
    assert cues
    root = _read(write_ttml(cues, lang=lang))
    assert root.get(f"{XML}lang") == lang
    rules = rules_for(lang)
    paragraphs = root.findall(f"{TT}body/{TT}div/{TT}p")
    assert len(paragraphs) == len(cues)
    previous_end = -1
    for p, cue in zip(paragraphs, cues, strict=True):
        lines = _paragraph_lines(p)
        assert lines == list(cue.lines)
        assert 1 <= len(lines) <= MAX_LINES
        assert all(line_length(line) <= rules.max_chars_per_line for line in lines)
        begin, end = _ms(p.get("begin", "")), _ms(p.get("end", ""))
        assert begin >= previous_end and end > begin
        assert begin == round(cue.start_s * 1000) and end == round(cue.end_s * 1000)
        previous_end = end


def test_an_empty_cue_list_is_still_a_valid_document() -> None:
    root = _read(write_ttml([], lang="fr"))
    div = root.find(f"{TT}body/{TT}div")
    assert div is not None and len(div) == 0


@pytest.mark.parametrize(
    ("cues", "message"),
    [
        ([Cue(2.0, 1.0, ("Backwards",))], "ends at or before"),
        ([Cue(0.0, 2.0, ("One",)), Cue(1.0, 3.0, ("Two",))], "must not overlap"),
        ([Cue(0.0, 1.0, ("a", "b", "c"))], "lines"),
        ([Cue(0.0, 1.0, ("bell \x07 here",))], "XML cannot carry"),
    ],
)
def test_bad_cues_are_refused(cues: list[Cue], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_ttml(cues, lang="en")


@pytest.mark.parametrize("lang", ["", "en us", "e", "<en>"])
def test_a_malformed_language_tag_is_refused(lang: str) -> None:
    with pytest.raises(ValueError, match="BCP 47"):
        write_ttml(CUES, lang=lang)
