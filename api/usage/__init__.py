"""Usage: tokens, requests and cost, grouped for dashboards."""
