"""Read the token-auth vendor stand-in with a pull token of our own, to check what it serves."""

from __future__ import annotations

import httpx

from deploy.demo_stack.token_server import SERVICE
from tests.support.accounts import SA_TOKEN

ACCEPT = (
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


def vendor_read(base_url: str, repository: str, path: str, method: str = "GET") -> httpx.Response:
    """`method` /v2/<repository>/<path> (manifests/..., blobs/...) with a fresh pull token."""
    challenge = httpx.get(f"{base_url}/v2/").headers["WWW-Authenticate"]
    realm = challenge.split('realm="', 1)[1].split('"', 1)[0]
    token = httpx.get(
        realm,
        params={"service": SERVICE, "scope": f"repository:{repository}:pull"},
        auth=("reader", SA_TOKEN),
    ).json()["token"]
    return httpx.request(
        method,
        f"{base_url}/v2/{repository}/{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT},
    )


def served_digest(base_url: str, repository: str, reference: str) -> str | None:
    """The digest the registry serves for a tag, or None."""
    response = vendor_read(base_url, repository, f"manifests/{reference}", "HEAD")
    return response.headers.get("Docker-Content-Digest") if response.status_code == 200 else None
