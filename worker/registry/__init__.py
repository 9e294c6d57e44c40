"""The copy engine: copy images between registries over the distribution API, no daemon.

Client, status-to-error mapping, retry, credentials, manifests, index selection, blob transfer,
chunked uploads and the copier. Imports nothing from the job system, Celery, Redis or Docker.
"""
