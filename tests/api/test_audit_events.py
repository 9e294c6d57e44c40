"""Audit events as the API shows them: a worker's signature check keeps what it verified."""

from __future__ import annotations

from api.schemas.events import AuditEventSchema


def test_a_verify_event_shows_which_key_verified_which_digest() -> None:
    verified = [{"digest": "sha256:" + "a" * 64, "key": "keys/release.pub", "layout": "sigstore"}]
    event = {
        "id": "1-0",
        "action": "verify",
        "result": "verified",
        "reason": None,
        "app_slug": "myapp",
        "job_id": "j1",
        "verified": verified,
    }
    shown = AuditEventSchema().dump(event)
    assert (shown["action"], shown["result"], shown["verified"]) == ("verify", "verified", verified)
