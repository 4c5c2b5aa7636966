"""Alembic migrations (date-prefixed)."""
