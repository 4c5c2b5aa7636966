"""The pure pipeline: one source's journey from media to outputs, with no queue and no database.

Probe and analyse the source, plan chunks that fit the provider's input limit, build each
chunk's payload, call the provider, and assemble the replies into subtitles, text and a dub.
`ltb translate` runs it directly on one machine; the Celery steps in `worker` run the same
functions one chunk at a time and keep their state in Postgres.
"""
