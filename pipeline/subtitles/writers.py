"""publish: cues as SRT and WebVTT text, refusing anything that would make a bad file.

Times are rounded to whole milliseconds once, and order and overlap are checked on those
integers, so rounding can never produce an overlap the check did not see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.subtitles.cues import Cue
from pipeline.subtitles.rules import MAX_LINES, is_blank


@dataclass(frozen=True, slots=True)
class CheckedCue:
    """A cue that passed every check, its times rounded to whole milliseconds."""

    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def write_srt(cues: Sequence[Cue]) -> str:
    """SubRip text: numbered cues, `HH:MM:SS,mmm` times, one blank line between cues, LF only."""
    blocks = [
        f"{number}\n{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}\n"
        + "".join(f"{line}\n" for line in cue.lines)
        for number, cue in enumerate(checked_cues(cues), start=1)
    ]
    return "\n".join(blocks)


def write_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text: the header, then cues with `HH:MM:SS.mmm` times, one blank line apart, LF only."""
    blocks = [
        f"{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}\n"
        + "".join(f"{_escape_vtt(line)}\n" for line in cue.lines)
        for cue in checked_cues(cues)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def checked_cues(cues: Sequence[Cue]) -> list[CheckedCue]:
    """The cues with times in milliseconds, or ValueError naming the first that would make a bad file.

    Every text format (SRT, WebVTT, TTML, the muxed tracks) is written from this one check.
    """
    checked: list[CheckedCue] = []
    for number, cue in enumerate(cues, start=1):
        start_ms, end_ms = _to_ms(cue.start_s, number), _to_ms(cue.end_s, number)
        if end_ms <= start_ms:
            raise ValueError(
                f"cue {number} ends at or before its start ({start_ms} ms, {end_ms} ms)"
            )
        if checked and start_ms < checked[-1].end_ms:
            raise ValueError(
                f"cue {number} starts at {start_ms} ms, before cue {number - 1} ends "
                f"({checked[-1].end_ms} ms): cues must be sorted and must not overlap"
            )
        if not 1 <= len(cue.lines) <= MAX_LINES:
            raise ValueError(f"cue {number} has {len(cue.lines)} lines; 1 to {MAX_LINES} allowed")
        for line in cue.lines:
            _check_line(line, number)
        checked.append(CheckedCue(start_ms, end_ms, tuple(cue.lines)))
    return checked


def _check_line(line: str, number: int) -> None:
    if is_blank(line):
        raise ValueError(f"cue {number} has a blank line")
    # Any character Python treats as a line boundary would split the line in a reader.
    if line.splitlines() != [line]:
        raise ValueError(f"cue {number} has a line break inside a line: {line!r}")
    if "-->" in line:
        raise ValueError(
            f"cue {number} has '-->' in its text, which readers take for a timing line"
        )
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"cue {number} has text that is not valid UTF-8: {line!r}") from error


def _to_ms(seconds: float, number: int) -> int:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cue {number} has an invalid time {seconds!r}")
    return math.floor(seconds * 1000 + 0.5)


def _timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _escape_vtt(line: str) -> str:
    # WebVTT cue text is markup: & and < start entities and tags.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
