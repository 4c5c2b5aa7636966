"""publish: cues as a TTML document in the IMSC 1.1 Text Profile, for broadcast delivery.

The cues are the ones SRT and WebVTT are written from, checked by the same rules (order,
overlap, 1 or 2 non-blank lines, whole milliseconds), so every format carries the same
subtitles. What TTML adds is layout: one region at the bottom of the frame, inside the
safe area Netflix's timed-text samples use (10 % from each side, text no lower than 10 %
from the bottom edge), centred text, and the line break between a cue's two lines as
`<br/>`. Lengths are percentages, so the document fits any frame size; a pixel extent for
the root is written only when the caller gives the frame size.

The document declares itself with `ttp:contentProfiles` (the IMSC 1.1 Text Profile
designator) and counts time on the media's own clock (`ttp:timeBase="media"`), written
as `HH:MM:SS.mmm` clock times without frames, so no frame rate needs to be declared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from pipeline.subtitles.cues import Cue
from pipeline.subtitles.writers import checked_cues

TT_NS = "http://www.w3.org/ns/ttml"
TTP_NS = "http://www.w3.org/ns/ttml#parameter"
TTS_NS = "http://www.w3.org/ns/ttml#styling"
TTM_NS = "http://www.w3.org/ns/ttml#metadata"
IMSC11_TEXT_PROFILE = "http://www.w3.org/ns/ttml/profile/imsc1.1/text"

BOTTOM_REGION_ID = "bottom"


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the frame, in percent of its width and height."""

    region_id: str
    origin_pct: tuple[float, float]
    extent_pct: tuple[float, float]
    display_align: str


# The safe area of Netflix's TTML samples: 80 % of the width, centred; the bottom region
# holds the lower 40 % of the frame above a 10 % margin, text stacked from its foot up.
BOTTOM_REGION = Region(
    region_id=BOTTOM_REGION_ID,
    origin_pct=(10.0, 50.0),
    extent_pct=(80.0, 40.0),
    display_align="after",
)

# Scripts written right to left: the paragraph's base direction must say so.
_RIGHT_TO_LEFT_LANGS = frozenset({"ar", "he", "fa", "ur"})
# XML 1.0 refuses these code points anywhere in a document, escaped or not.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LANG_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


def write_ttml(
    cues: Sequence[Cue],
    *,
    lang: str,
    title: str | None = None,
    frame_size: tuple[int, int] | None = None,
) -> str:
    """An IMSC 1.1 Text Profile document for `cues`, in language `lang` (a BCP 47 tag).

    Raises ValueError for cues SRT would refuse too, for text XML cannot carry, and for a
    language tag or frame size that is not well formed.
    """
    if not _LANG_TAG.fullmatch(lang):
        raise ValueError(f"xml:lang must be a BCP 47 language tag, got {lang!r}")
    checked = checked_cues(cues)
    for number, cue in enumerate(checked, start=1):
        for line in cue.lines:
            if _NOT_XML_CHAR.search(line):
                raise ValueError(f"cue {number} has a character XML cannot carry: {line!r}")
    root_attributes = [
        f'xmlns="{TT_NS}"',
        f'xmlns:ttp="{TTP_NS}"',
        f'xmlns:tts="{TTS_NS}"',
        f'xmlns:ttm="{TTM_NS}"',
        f"xml:lang={quoteattr(lang)}",
        'ttp:timeBase="media"',
        f'ttp:contentProfiles="{IMSC11_TEXT_PROFILE}"',
    ]
    if frame_size is not None:
        width, height = frame_size
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        root_attributes.append(f'tts:extent="{width}px {height}px"')
    direction = ' tts:direction="rtl"' if lang.split("-")[0] in _RIGHT_TO_LEFT_LANGS else ""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<tt {' '.join(root_attributes)}>",
        "  <head>",
    ]
    if title is not None:
        parts.append(f"    <metadata><ttm:title>{escape(title)}</ttm:title></metadata>")
    parts += [
        "    <styling>",
        '      <style xml:id="subtitle" tts:fontFamily="proportionalSansSerif"'
        f' tts:fontSize="100%" tts:textAlign="center"{direction}/>',
        "    </styling>",
        "    <layout>",
        f"      {_region(BOTTOM_REGION)}",
        "    </layout>",
        "  </head>",
        "  <body>",
        "    <div>",
    ]
    for number, cue in enumerate(checked, start=1):
        text = "<br/>".join(escape(line) for line in cue.lines)
        parts.append(
            f'      <p xml:id="cue{number}" begin="{clock_time(cue.start_ms)}"'
            f' end="{clock_time(cue.end_ms)}" region="{BOTTOM_REGION_ID}"'
            f' style="subtitle">{text}</p>'
        )
    parts += ["    </div>", "  </body>", "</tt>", ""]
    return "\n".join(parts)


def clock_time(ms: int) -> str:
    """A TTML clock time, `HH:MM:SS.mmm`; hours grow past two digits when they must."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _region(region: Region) -> str:
    origin = " ".join(_pct(value) for value in region.origin_pct)
    extent = " ".join(_pct(value) for value in region.extent_pct)
    return (
        f'<region xml:id="{region.region_id}" tts:origin="{origin}" tts:extent="{extent}"'
        f' tts:displayAlign="{region.display_align}" tts:overflow="visible"/>'
    )


def _pct(value: float) -> str:
    return f"{value:g}%"
