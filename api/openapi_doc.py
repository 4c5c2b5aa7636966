"""The published OpenAPI document, docs/openapi.json: `make openapi` writes it, and a test
fails when the app's document differs from it."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from api.app import create_app
from ltb.settings import Settings

PUBLISHED = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def document() -> dict[str, Any]:
    """The app's document. Routes and schemas do not depend on settings: a throwaway
    embedded configuration builds the app without touching any service."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            profile="embedded",
            home=Path(home),
            broker_url="memory://",
            storage_root=Path(home) / "objects",
            redis_url="",
        )
        return create_app(settings).openapi()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PUBLISHED
    target.write_text(render(document()), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
