"""Redis that survives, for tests: a Sentinel group (master, replica, three sentinels) and a
TLS-only redis-server on a CA made here. Free ports; each waits until it is really ready."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.services import Process, RedisServer, free_port, require_binary, wait_until

MASTER_NAME = "pushgate-master"

_SENTINEL_CONF = """port {port}
bind 127.0.0.1
dir {dir}
sentinel resolve-hostnames no
sentinel monitor {name} 127.0.0.1 {master} 2
sentinel down-after-milliseconds {name} 1000
sentinel failover-timeout {name} 10000
sentinel parallel-syncs {name} 1
"""


class Sentinel(Process):
    """One redis-sentinel process watching the group."""

    def __init__(self, workdir: Path, master_port: int) -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "sentinel.conf"  # sentinel rewrites it: one writable copy each
        conf.write_text(
            _SENTINEL_CONF.format(port=self.port, dir=workdir, name=MASTER_NAME, master=master_port)
        )
        super().__init__([require_binary("redis-sentinel"), str(conf)], workdir / "sentinel.log")
        self.client = redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)

    def master_port(self) -> int:
        """The port this sentinel names as the master now."""
        _, port = self.client.sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)


@dataclass
class SentinelGroup:
    """A master, a replica and three sentinels with quorum 2."""

    master: RedisServer
    replica: RedisServer
    sentinels: list[Sentinel]

    @classmethod
    def start(cls, workdir: Path) -> SentinelGroup:
        """Start everything and wait until the sentinels know each other and the replica."""
        master = RedisServer(workdir / "master")
        group = cls(master, master, [])
        try:
            group.replica = RedisServer(
                workdir / "replica", extra=("--replicaof", "127.0.0.1", str(master.port))
            )
            wait_until(group.in_sync, 30, "replica in sync", group.replica.log)
            for n in range(3):
                group.sentinels.append(Sentinel(workdir / f"sentinel{n}", master.port))
            for sentinel in group.sentinels:
                wait_until(
                    lambda s=sentinel: (
                        len(s.client.sentinel_sentinels(MASTER_NAME)) == 2
                        and len(s.client.sentinel_slaves(MASTER_NAME)) == 1
                    ),
                    60,
                    f"sentinel on {sentinel.port} seeing its peers and the replica",
                    sentinel.log,
                    sentinel.proc,
                    interval=0.1,
                )
        except BaseException:
            group.stop()
            raise
        return group

    @property
    def url(self) -> str:
        """PUSHGATE_REDIS_URL for the group: every sentinel, database 0."""
        return "sentinel://" + ";".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + "/0"

    def in_sync(self) -> bool:
        """True when the replica has every write the master has taken."""
        info = redis.Redis(port=self.master.port, socket_timeout=2).info("replication")
        replica = info.get("slave0")
        return (
            isinstance(replica, dict)
            and replica.get("state") == "online"
            and int(replica["offset"]) == int(info["master_repl_offset"])
        )

    def stop(self) -> None:
        """Stop every process of the group."""
        for process in [*self.sentinels, self.replica, self.master]:
            process.stop()


@dataclass(frozen=True)
class TlsFiles:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_tls_files(folder: Path) -> TlsFiles:
    """A self-signed CA made now, and the certificates it signs for Redis and its clients."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pushgate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(name: str, usage: x509.ObjectIdentifier) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    files = TlsFiles(
        *(folder / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key"))
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_cert, server_key = issue("redis", ExtendedKeyUsageOID.SERVER_AUTH)
    client_cert, client_key = issue("pushgate", ExtendedKeyUsageOID.CLIENT_AUTH)
    files.server_cert.write_bytes(server_cert)
    files.server_key.write_bytes(server_key)
    files.client_cert.write_bytes(client_cert)
    files.client_key.write_bytes(client_key)
    return files


class TlsRedisServer(Process):
    """redis-server that speaks only TLS and asks every client for a certificate."""

    def __init__(self, workdir: Path, tls: TlsFiles) -> None:
        self.port, self.tls = free_port(), tls
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            [
                require_binary("redis-server"),
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--tls-cert-file",
                str(tls.server_cert),
                "--tls-key-file",
                str(tls.server_key),
                "--tls-ca-cert-file",
                str(tls.ca),
                "--tls-auth-clients",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            workdir / "redis.log",
        )
        wait_until(self._ping, 15, f"TLS redis-server on {self.port}", self.log, self.proc)

    @property
    def url(self) -> str:
        """The rediss:// URL of this server, database 0."""
        return f"rediss://127.0.0.1:{self.port}/0"

    def _ping(self) -> bool:
        client = redis.Redis.from_url(
            self.url,
            ssl_ca_certs=str(self.tls.ca),
            ssl_certfile=str(self.tls.client_cert),
            ssl_keyfile=str(self.tls.client_key),
            socket_timeout=2,
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
