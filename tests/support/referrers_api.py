"""The OCI 1.1 referrers API, played by the gate proxy in front of a registry that lacks it:
a manifest PUT carrying `subject` is answered with `OCI-Subject` and listed, and
`GET /v2/<name>/referrers/<digest>` answers the list as an OCI index."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.support.images import OCI_INDEX, digest_of

_REFERRERS_RE = re.compile(r"^/v2/(?P<name>.+?)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")
_MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+?)/manifests/(?P<reference>[^/?]+)$")
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class ReferrersApi:
    """The referrers lists the proxy keeps, per (repository, subject digest)."""

    listed: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    bogus: bool = False  # answer the referrers route with a web page, as some front ends do
    page_size: int = 0  # list this many per page, with a Link to the next (0: all at once)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str) -> Answer | None:
        """The referrers list for a GET of the referrers API; None for any other request."""
        match = _REFERRERS_RE.match(path.split("?", 1)[0])
        if method != "GET" or match is None:
            return None
        if self.bogus:
            return 200, {"Content-Type": "text/html"}, b"<html><body>Not here</body></html>"
        with self.lock:
            entries = list(self.listed.get((match["name"], match["digest"]), []))
        headers = {"Content-Type": OCI_INDEX}
        if self.page_size:
            start = int(path.partition("?page=")[2] or 0)
            if start + self.page_size < len(entries):
                following = f"{path.split('?', 1)[0]}?page={start + self.page_size}"
                headers["Link"] = f'<{following}>; rel="next"'
            entries = entries[start : start + self.page_size]
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        return 200, headers, body.encode()

    def written(self, method: str, path: str, status: int, body: bytes) -> dict[str, str]:
        """After a successful manifest PUT with a `subject`: list it, and the header to add."""
        match = _MANIFEST_RE.match(path.split("?", 1)[0])
        if method != "PUT" or match is None or status != 201:
            return {}
        try:
            manifest = json.loads(body)
        except ValueError:
            return {}
        subject = (manifest.get("subject") or {}).get("digest")
        if not subject:
            return {}
        entry: dict[str, Any] = {
            "mediaType": manifest.get("mediaType"),
            "digest": digest_of(body),
            "size": len(body),
            "artifactType": manifest.get("artifactType")
            or (manifest.get("config") or {}).get("mediaType"),
        }
        if manifest.get("annotations"):
            entry["annotations"] = manifest["annotations"]
        with self.lock:
            entries = self.listed.setdefault((match["name"], subject), [])
            if all(e["digest"] != entry["digest"] for e in entries):
                entries.append(entry)
        return {"OCI-Subject": subject}
