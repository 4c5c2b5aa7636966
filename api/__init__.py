"""The REST API: jobs in, status and outputs out."""
