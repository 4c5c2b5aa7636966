"""The web console at /console: server-rendered pages over the same endpoints and tenant
checks as the REST API, with vendored htmx and Chart.js (no build step, no CDN)."""
