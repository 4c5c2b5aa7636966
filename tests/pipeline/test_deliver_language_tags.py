"""Track language codes: every language the service knows has one, in each container's form."""

from __future__ import annotations

import re

import pytest

from ltb.languages import LANGUAGES
from pipeline.deliver.language_tags import language_name, track_language


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_every_known_language_has_a_three_letter_code(container: str) -> None:
    for lang in LANGUAGES:
        assert re.fullmatch(r"[a-z]{3}", track_language(lang, container=container)), lang


@pytest.mark.parametrize(
    ("lang", "mp4", "mkv"),
    [
        ("en", "eng", "eng"),
        # ISO 639-2 terminology codes in MP4, bibliographic ones in Matroska.
        ("fr", "fra", "fre"),
        ("de", "deu", "ger"),
        ("zh", "zho", "chi"),
        ("el", "ell", "gre"),
        # No ISO 639-2 code for Cantonese: its ISO 639-3 code stands in.
        ("yue", "yue", "yue"),
        (None, "und", "und"),
    ],
)
def test_codes_follow_each_containers_rule(lang: str | None, mp4: str, mkv: str) -> None:
    assert track_language(lang, container="mp4") == mp4
    assert track_language(lang, container="mkv") == mkv


def test_unknown_languages_and_containers_are_refused() -> None:
    with pytest.raises(ValueError, match="no ISO 639 code"):
        track_language("xx", container="mp4")
    with pytest.raises(ValueError, match="unknown container"):
        track_language("en", container="avi")


def test_titles_use_the_languages_english_name() -> None:
    assert language_name("yue") == "Cantonese"
    assert language_name(None) == "Unknown language"
