"""Warm shutdown of a worker's pool processes.

A SIGTERM, whether sent to the worker's main process (which passes it on) or to its whole
process group (systemd's default KillMode), starts a grace of LTB_WARM_SHUTDOWN_S in each
pool process. Chunks in flight may finish within it: their streams are paid for. When it
runs out, a chunk still being requested is interrupted and handed back (see
`chunk_step`), so another worker takes it over at once instead of after its lease.

A reply that has arrived is never interrupted: only the request phase is interruptible.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

log = logging.getLogger("ltb.worker.shutdown")


class GraceOver(BaseException):
    """The warm-shutdown grace ran out while a chunk was being requested.

    A BaseException, so that no `except Exception` between the signal and the chunk step
    (in the provider client, say) can take it for a failed request and retry it.
    """


class _State:
    grace_s: float = 60.0
    pool_process = False  # a prefork pool process (not a solo or threaded worker's main one)
    installed_in: int | None = None
    terminating = False
    grace_over = False
    interruptible = False


_state = _State()


def ignore_until_installed() -> None:
    """At a pool process's start: an idle pool process outlives a SIGTERM (the pool's
    own shutdown ends it). Its pool installs a SIGTERM handler of its own after this,
    unless the signal is ignored, so the grace is installed when the first task starts."""
    _state.pool_process = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def install_in_pool_process(grace_s: float) -> None:
    """Replaces the pool process's SIGTERM (exit at once) with the grace; once per process."""
    if not _state.pool_process or _state.installed_in == os.getpid():
        return
    _state.installed_in = os.getpid()
    _state.grace_s = grace_s
    _state.terminating = _state.grace_over = _state.interruptible = False
    signal.signal(signal.SIGALRM, _on_grace_over)
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _state.terminating:
        return  # a second SIGTERM (from the main process passing it on) changes nothing
    _state.terminating = True
    if _state.grace_s > 0:
        signal.setitimer(signal.ITIMER_REAL, _state.grace_s)
    else:
        _on_grace_over(signal.SIGALRM, frame)


def _on_grace_over(signum: int, frame: FrameType | None) -> None:
    _state.grace_over = True
    if _state.interruptible:
        _state.interruptible = False
        raise GraceOver


def terminating() -> bool:
    """Whether this process was asked to stop: start no new request."""
    return _state.terminating


@contextmanager
def interruptible() -> Iterator[None]:
    """A section the end of the grace may interrupt with GraceOver (the request phase)."""
    if _state.grace_over:
        raise GraceOver
    _state.interruptible = True
    try:
        yield
    finally:
        _state.interruptible = False


def pass_on_to_pool(children: list[int]) -> None:
    """From the main process: starts the grace in each pool process, which a SIGTERM
    sent to the main process alone would not reach."""
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        except OSError:
            log.warning("could not pass the SIGTERM on to pool process %d", pid, exc_info=True)


# How long the main process waits, beyond the grace, for tasks other than chunks (a plan,
# a finalize: both safe to run again) before it stops regardless.
EXIT_MARGIN_S = 30.0
_watchdog: threading.Timer | None = None


def exit_at_the_latest(after_s: float, children: list[int]) -> None:
    """From the main process, once: a warm shutdown that has not ended `after_s` from now
    ends the process and its children, so a worker never lingers after its pool is gone."""
    global _watchdog
    if _watchdog is not None:
        return

    def expire() -> None:
        log.error("the warm shutdown did not end within %.0f s; exiting now", after_s)
        for pid in children:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        os._exit(1)

    _watchdog = threading.Timer(after_s, expire)
    _watchdog.daemon = True
    _watchdog.start()
