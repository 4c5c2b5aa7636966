"""The workers: one job's journey from source to outputs."""
