"""Which provider served a request: DashScope itself, or the emulator standing in for it.

The emulator names itself in a response header on every answer, so a client pointed at an
emulator by URL (Compose, tests) knows it as surely as one that started it in-process.
"""

from __future__ import annotations

from typing import Literal

Provider = Literal["dashscope", "emulator"]
DASHSCOPE: Provider = "dashscope"
EMULATOR: Provider = "emulator"

# The real API never sends it; the emulator sends it on every answer, refusals included.
EMULATOR_HEADER = "x-ltb-emulator"
