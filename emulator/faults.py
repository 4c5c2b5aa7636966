"""Faults, injected on purpose so clients can prove they survive them.

Two ways in:
- rates (`--fail-429`, `--fail-500`, `--cut`, `--moderation`) drawn from a generator seeded
  with `--seed`: two numbers per request, in arrival order, so the same sequence of requests
  meets the same faults on every run;
- the request header `x-emulator-fault: 429|500|cut|moderation|moderation-input|stall`,
  which forces one fault on one request. The real API has no such header; with the SDK it is
  passed through `extra_headers`. A forced request still consumes its draw, so forcing one
  request never shifts the faults the others meet.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal, get_args

from emulator.errors import invalid_parameter

FaultKind = Literal["429", "500", "cut", "moderation", "moderation-input", "stall"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
FAULT_HEADER = "x-emulator-fault"

# Faults that strike once the stream has started; the others refuse the request.
MID_STREAM: frozenset[str] = frozenset({"cut", "moderation", "stall"})


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind | None
    # Where a mid-stream fault strikes, as a fraction of the stream's deltas.
    position: float = 0.0

    def strikes_after(self, deltas: int) -> int | None:
        """After how many deltas a mid-stream fault strikes: at least one, at most all."""
        if self.kind not in MID_STREAM:
            return None
        if self.kind == "stall":
            return min(1, deltas)
        return 1 + int(self.position * max(0, deltas - 1)) if deltas else 0


class FaultPlan:
    def __init__(
        self, *, fail_429: float, fail_500: float, cut: float, moderation: float, seed: int
    ) -> None:
        self._bands: tuple[tuple[float, FaultKind], ...] = (
            (fail_429, "429"),
            (fail_500, "500"),
            (cut, "cut"),
            (moderation, "moderation"),
        )
        self._seed = seed
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def draw(self, forced: str | None = None) -> Fault:
        """The fault for the next request, forced by the header or drawn by the rates."""
        with self._lock:
            roll, position = self._rng.random(), self._rng.random()
        if forced is not None:
            if forced not in FAULT_KINDS:
                raise invalid_parameter(
                    f"Unknown {FAULT_HEADER} {forced!r}; use one of {', '.join(FAULT_KINDS)}.",
                    param=FAULT_HEADER,
                )
            return Fault(forced, position)  # type: ignore[arg-type]
        edge = 0.0
        for rate, kind in self._bands:
            edge += rate
            if roll < edge:
                return Fault(kind, position)
        return Fault(None)

    def reset(self) -> None:
        """Starts the sequence again, as a freshly started emulator would."""
        with self._lock:
            self._rng = random.Random(self._seed)
