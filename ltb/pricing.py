"""Versioned price tables. Every cost figure names the table that priced it, so a new
table never rewrites history (docs/provider.md "Prices")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from ltb.errors import LtbError
from ltb.usage import TOKEN_KINDS, TokenCounts


@dataclass(frozen=True, slots=True)
class Cost:
    amount: Decimal
    currency: str
    price_table: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "amount": float(self.amount),
            "currency": self.currency,
            "price_table": self.price_table,
        }


@dataclass(frozen=True, slots=True)
class PriceTable:
    id: str
    effective_from: date
    currency: str
    per_tokens: int
    # model -> token kind -> price per `per_tokens` tokens
    models: dict[str, dict[str, Decimal]]

    def cost(self, model: str, counts: TokenCounts) -> Cost:
        """Prices `counts` for `model`; refuses a model the table does not list."""
        rates = self.models.get(model)
        if rates is None:
            raise LtbError(
                f"price table {self.id} has no prices for model {model!r}",
                code="price_table_missing_model",
            )
        amount = sum(
            (Decimal(getattr(counts, kind)) * rates[kind] for kind in TOKEN_KINDS), Decimal(0)
        ) / Decimal(self.per_tokens)
        return Cost(
            amount=amount.quantize(Decimal("0.000001")), currency=self.currency, price_table=self.id
        )


@dataclass(frozen=True, slots=True)
class PriceBook:
    tables: tuple[PriceTable, ...]

    def current(self, on: date | None = None) -> PriceTable:
        """The table in force on `on` (today by default): the latest effective date not after it."""
        day = on or date.today()
        in_force = [t for t in self.tables if t.effective_from <= day]
        if not in_force:
            raise LtbError(f"no price table is in force on {day}", code="price_table_missing")
        return max(in_force, key=lambda t: t.effective_from)

    def by_id(self, table_id: str) -> PriceTable:
        for table in self.tables:
            if table.id == table_id:
                return table
        raise LtbError(f"unknown price table {table_id!r}", code="price_table_missing")


def _parse_table(raw: dict[str, Any]) -> PriceTable:
    models = {
        model: {kind: Decimal(str(rates.get(kind, "0"))) for kind in TOKEN_KINDS}
        for model, rates in raw["models"].items()
    }
    return PriceTable(
        id=str(raw["id"]),
        effective_from=date.fromisoformat(raw["effective_from"]),
        currency=str(raw["currency"]),
        per_tokens=int(raw.get("per_tokens", 1_000_000)),
        models=models,
    )


def load_price_book(path: Path | None = None) -> PriceBook:
    """Reads a price book from `path`, or the bundled illustrative one."""
    if path is None:
        text = resources.files("ltb").joinpath("data/prices.json").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
        tables = tuple(_parse_table(t) for t in raw["tables"])
    except (KeyError, ValueError, TypeError) as exc:
        raise LtbError(
            f"the price table file is malformed: {exc}", code="price_table_invalid"
        ) from exc
    return PriceBook(tables=tables)
