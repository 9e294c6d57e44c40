"""Signed webhooks (Standard Webhooks 1.0): subscriptions, the SSRF guard, delivery records,
the sender and the dispatcher. No Celery in here: worker/tasks.py wires it to the queue."""
