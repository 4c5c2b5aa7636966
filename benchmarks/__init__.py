"""`make bench`: figures written to bench-results.json, never asserted in tests."""
