"""How every command fails: a stable code and a message, exit status 2 for bad input,
and never a traceback."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from rich.console import Console
from rich.markup import escape

from ltb.errors import LtbError
from ltb.languages import OUTPUT_KINDS

log = logging.getLogger("ltb")
stderr = Console(stderr=True)

# The output kinds, as the commands' help lists them.
OUTPUT_CHOICES = ", ".join(OUTPUT_KINDS)
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


def fail(code: str, message: str, *, as_json: bool, status: int = EXIT_BAD_INPUT) -> NoReturn:
    if as_json:
        print(json.dumps({"error": {"code": code, "message": message}}))
    else:
        # Messages carry paths and URIs; never let rich read them as markup.
        stderr.print(f"[bold red]error[/] [red]{escape(code)}[/]: {escape(message)}")
    raise SystemExit(status)


@contextmanager
def guarded(*, as_json: bool = False) -> Iterator[None]:
    """Turns LtbError into exit 2 and anything unexpected into exit 1, without a traceback."""
    try:
        yield
    except LtbError as exc:
        fail(exc.code, exc.message, as_json=as_json)
    except KeyboardInterrupt:
        fail("interrupted", "stopped by the user", as_json=as_json, status=130)
    except Exception as exc:
        log.debug("unexpected failure", exc_info=True)
        fail(
            "internal_error",
            f"{type(exc).__name__}: {exc}. This is a bug; run with LTB_DEBUG=1 for details.",
            as_json=as_json,
            status=EXIT_INTERNAL,
        )


def parse_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def on_off(value: str, *, name: str) -> bool:
    if value not in ("on", "off"):
        raise LtbError(f"{name} must be 'on' or 'off', not {value!r}", code="invalid_option")
    return value == "on"


def debug_enabled() -> bool:
    return bool(__import__("os").environ.get("LTB_DEBUG"))


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug_enabled() else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


Command = Callable[..., None]
