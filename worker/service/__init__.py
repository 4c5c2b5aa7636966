"""The journey as service steps: plan a job, translate its chunks, finalize it, reap what stalls."""
