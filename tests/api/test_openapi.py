"""openapi.yaml is generated from the code and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import yaml
from openapi_spec_validator import validate

from api.openapi import render

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_file_matches_the_code() -> None:
    committed = (ROOT / "openapi.yaml").read_text()
    assert committed == render(), "openapi.yaml is stale: run `make openapi`"


def test_openapi_file_is_a_valid_openapi_document() -> None:
    validate(yaml.safe_load((ROOT / "openapi.yaml").read_text()))


def test_openapi_documents_every_route() -> None:
    text = render()
    for path in (
        "/v1/pushes:",
        "/v1/pushes/{job_id}:",
        "/v1/pushes/{job_id}/cancel:",
        "/healthz:",
        "/readyz:",
    ):
        assert path in text
