"""The Celery steps: plan a job, translate its chunks, finalize it, deliver its webhooks, and
reap what stalls. Each step runs the pure `pipeline` on one unit of work and keeps the job's
state in Postgres, so any worker can pick up where another stopped."""
