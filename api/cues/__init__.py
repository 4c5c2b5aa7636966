"""Editable cues, output revisions and chunk redos: /v1/jobs/{id}/cues, /v1/jobs/{id}/chunks/{index}/redo."""
