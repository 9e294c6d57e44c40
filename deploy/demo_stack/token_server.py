"""A stand-in for the vendor's token server: maps credentials to the app slugs they may push.

Like the vendor's, it accepts any username with a service-account token, an email with a user
token, or an email with a password. It issues RS256 JWTs with an x5c header that a
distribution registry configured with `auth: token:` verifies against the same certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "pushgate-test-issuer"
SERVICE = "pushgate-test-registry"


@dataclass
class Account:
    """One way to log in: kind is service_account, user_token, password or identity_token (an
    OAuth2 refresh token, exchanged with the refresh_token grant only)."""

    kind: str
    secret: str
    slugs: list[str]
    email: str = ""

    def accepts(self, username: str, password: str) -> bool:
        """True when these Basic credentials log in as this account."""
        if self.kind == "identity_token" or not secrets.compare_digest(password, self.secret):
            return False
        return self.kind == "service_account" or username == self.email


@dataclass
class TokenIssuer:
    """Signs registry tokens; holds the key and its self-signed certificate."""

    accounts: list[Account] = field(default_factory=list)
    key: Any = None
    cert_pem: bytes = b""
    issued: int = 0
    refreshed: int = 0

    @classmethod
    def create(cls, accounts: list[Account]) -> TokenIssuer:
        """A new issuer with a fresh RSA key and certificate."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pushgate test token issuer")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(accounts, key, cert.public_bytes(serialization.Encoding.PEM))

    def grant(self, username: str, password: str, scopes: list[str]) -> list[dict[str, Any]] | None:
        """The access list for these credentials and scopes; None when login fails."""
        account = next((a for a in self.accounts if a.accepts(username, password)), None)
        return None if account is None else self.access(account, scopes)

    def refresh(self, refresh_token: str, scopes: list[str]) -> list[dict[str, Any]] | None:
        """The access list for an identity token (refresh_token grant); None when unknown."""
        for account in self.accounts:
            if account.kind == "identity_token" and secrets.compare_digest(
                refresh_token, account.secret
            ):
                self.refreshed += 1
                return self.access(account, scopes)
        return None

    def access(self, account: Account, scopes: list[str]) -> list[dict[str, Any]]:
        """What `account` may do of `scopes`."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            slug = name.split("/", 1)[0]
            if "*" in account.slugs or slug in account.slugs:
                allowed = [a for a in actions.split(",") if a in ("pull", "push")]
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def sign(self, subject: str, access: list[dict[str, Any]]) -> str:
        """A signed JWT granting `access`."""
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        self.issued += 1
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"x5c": [der]})


def make_handler(issuer: TokenIssuer) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving GET /token for `issuer`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self.send_error(404)
                return
            query = urllib.parse.parse_qs(url.query)
            header = self.headers.get("Authorization", "")
            username = password = ""
            if header.startswith("Basic "):
                decoded = base64.b64decode(header[6:]).decode(errors="replace")
                username, _, password = decoded.partition(":")
            self._answer(username, issuer.grant(username, password, query.get("scope", [])))

        def do_POST(self) -> None:
            if urllib.parse.urlsplit(self.path).path != "/token":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if form.get("grant_type") != ["refresh_token"]:
                self.send_error(400)
                return
            scopes = " ".join(form.get("scope", [])).split()
            access = issuer.refresh(form.get("refresh_token", [""])[0], scopes)
            self._answer("identity", access)

        def _answer(self, username: str, access: list[dict[str, Any]] | None) -> None:
            if access is None:
                body = json.dumps(
                    {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]}
                ).encode()
                self.send_response(401)
            else:
                token = issuer.sign(username or "anonymous", access)
                body = json.dumps(
                    {"token": token, "access_token": token, "expires_in": 300}
                ).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class TokenServer:
    """The token server on a loopback port, served from a background thread. Its registries
    send their realm on another port than theirs, so pushgate must be told to trust it
    (PUSHGATE_TOKEN_REALM_HOSTS): `started` holds every token server's host:port."""

    started: ClassVar[set[str]] = set()

    def __init__(self, issuer: TokenIssuer, port: int = 0) -> None:
        self.issuer = issuer
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(issuer))
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        """The realm URL a registry's auth config points at."""
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        """Start serving in the background."""
        self.thread.start()
        TokenServer.started.add(self.host)
        return self

    @property
    def host(self) -> str:
        """host:port of the server."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
