"""The job system on Redis: the job model, the store, submission, the runner, heartbeat, reconciler.

No Celery here: the Celery tasks hand job ids to `worker.jobs.runner`.
"""
