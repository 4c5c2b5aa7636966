"""What crosses the wire for cues, their edits and redone chunks."""

from __future__ import annotations

import uuid

from pydantic import Field

from ltb.schemas import ErrorBody, Language, Outside, RevisionInfo, Voice

__all__ = [
    "CueEdit",
    "CueList",
    "CuePatch",
    "CueRejection",
    "CueView",
    "CueViolation",
    "RedoRequest",
    "RevisionInfo",
]

# Far past any real job's cue count (a two-hour film has about 1,500), so a body stays small.
MAX_EDITS = 20_000


class CueView(Outside):
    index: int = Field(description="From 1, in timeline order (after any chunk splits).")
    start_s: float
    end_s: float
    text: str = Field(description='The cue\'s lines, joined with "\\n".')
    source_text: str | None = Field(
        description="What was said, where known; the provider returns the translation only."
    )


class CueList(Outside):
    job_id: uuid.UUID
    revision: int = Field(description="The output revision these cues were written into.")
    target_lang: Language
    cues: list[CueView]


class CueEdit(Outside):
    index: int = Field(ge=1, description="The cue to change, as GET lists it.")
    text: str | None = Field(
        default=None, max_length=2000, description='New lines, joined with "\\n".'
    )
    start_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    end_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class CuePatch(Outside):
    cues: list[CueEdit] = Field(min_length=1, max_length=MAX_EDITS)


class CueViolation(Outside):
    index: int = Field(description="The cue the violation is on.")
    rule: str = Field(
        description="Stable: `format`, `overlap`, `unknown_cue`, `duplicate_edit`, "
        "`max_chars_per_line`, `max_lines`, `min_duration`, `max_duration`, "
        "`reading_speed`, `min_gap`."
    )
    message: str


class CueRejection(ErrorBody):
    """A refused cue edit; with `cue_rules_violated`, each violation. Nothing was written."""

    violations: list[CueViolation] = Field(
        default_factory=list, description="With `cue_rules_violated`: every rule broken, by cue."
    )


class RedoRequest(Outside):
    voice: Voice | None = Field(
        default=None, description="Dub this chunk with another voice (jobs with a `wav` output)."
    )
