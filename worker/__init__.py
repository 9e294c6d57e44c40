"""pushgate's worker side, one folder per subsystem; importing this package builds nothing.

- `worker.registry`: the copy engine over the distribution API (no Celery, Redis or Docker SDK).
- `worker.daemon`: images that live in a Docker daemon (SDK push, export path).
- `worker.jobs`: the job system on Redis (model, store, submission, runner, heartbeat, reconciler).
- `worker.celery` and `worker.tasks`: the only Celery modules (`celery -A worker worker`).
- Shared core: `errors`, `settings`, `reference`, `redaction`.
"""
