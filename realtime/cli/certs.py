"""``voxgate certs dev``: a local development CA and a server certificate signed by it.

:func:`write_dev_certs` writes four PEM files into a directory (created 0700 if missing):
``ca.pem`` (the CA certificate clients trust), ``ca-key.pem`` (its key), ``cert.pem`` (the
server certificate for ``localhost``, ``127.0.0.1``, ``::1`` and any extra names) and
``key.pem`` (its key). Keys are ECDSA P-256 and written with mode 0600. An existing CA in
the directory is reused, so clients that already trust it keep working when the server
certificate is issued again. The certificates carry what strict verifiers ask for (basic
constraints, key usage, extended key usage ``serverAuth``, subject and authority key
identifiers); the server certificate lasts 825 days, the longest browsers accept.

For development only: anyone holding ``ca-key.pem`` can impersonate any site to the
machines that trust ``ca.pem``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DIR = Path(".voxgate-certs")
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
SERVER_DAYS = 825


@dataclass(frozen=True)
class DevCerts:
    """Where :func:`write_dev_certs` put its files, and the names the certificate covers."""

    ca: Path
    ca_key: Path
    cert: Path
    key: Path
    names: tuple[str, ...]
    reused_ca: bool


def write_dev_certs(directory: Path, extra_names: Sequence[str] = ()) -> DevCerts:
    """Write (or reuse) the CA and issue a fresh server certificate in ``directory``.

    Args:
        directory: Created with mode 0700 when missing.
        extra_names: More host names or IP addresses for the server certificate.

    Raises:
        ConfigurationError: an existing ``ca.pem``/``ca-key.pem`` pair cannot be loaded.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = DevCerts(
        ca=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        cert=directory / "cert.pem",
        key=directory / "key.pem",
        names=tuple(dict.fromkeys((*LOCAL_NAMES, *extra_names))),
        reused_ca=paths_exist(directory / "ca.pem", directory / "ca-key.pem"),
    )
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # clock skew between machines
    if paths.reused_ca:
        ca_cert, ca_key = _load_ca(paths.ca, paths.ca_key)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, now)
        _write_key(paths.ca_key, ca_key)
        _write_public(paths.ca, ca_cert)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(server_key, ca_cert, ca_key, paths.names, now)
    _write_key(paths.key, server_key)
    _write_public(paths.cert, server_cert)
    return paths


def paths_exist(*paths: Path) -> bool:
    """Whether every path is an existing file."""
    return all(path.is_file() for path in paths)


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "voxgate development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(key: Any, now: dt.datetime) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    name = _name(f"voxgate development CA ({socket.gethostname()}, {now:%Y-%m-%d})")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: Any, ca_cert: Any, ca_key: Any, names: Sequence[str], now: dt.datetime
) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> Any:
    """An IP address entry for an address, else a DNS name."""
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _load_ca(cert_path: Path, key_path: Path) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from realtime.server.errors import ConfigurationError

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = load_pem_private_key(key_path.read_bytes(), password=None)
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except (ValueError, TypeError, x509.ExtensionNotFound) as exc:
        raise ConfigurationError(
            f"cannot reuse the CA in {cert_path.parent} ({exc}): remove ca.pem and ca-key.pem "
            "there to create a new one"
        ) from None
    return cert, key


def _write_key(path: Path, key: Any) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM, readable by its owner only (0600)."""
    from cryptography.hazmat.primitives import serialization

    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode otherwise
        out.write(data)


def _write_public(path: Path, cert: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# --- the command ------------------------------------------------------------------------------


def cmd_certs_dev(args: argparse.Namespace) -> int:
    """Write the development certificates and print how to serve and trust them."""
    certs = write_dev_certs(args.dir, args.name or ())
    print(instructions(certs))
    return 0


def instructions(certs: DevCerts) -> str:
    """What the command prints: the files, how to start the server, how clients trust it."""
    ca_note = (
        "The CA was already there and is kept: clients that trust it need nothing new."
        if certs.reused_ca
        else "A new CA: each client trusts it once (below)."
    )
    return f"""\
Development certificates in {certs.ca.parent} (for {", ".join(certs.names)}):
  {certs.ca}       the CA certificate: what clients trust
  {certs.ca_key}   the CA's key: keep it private (it could sign for any site)
  {certs.cert}     the server certificate (expires in {SERVER_DAYS} days; run this again)
  {certs.key}      the server's key
{ca_note}

Serve HTTPS and WSS:
  voxgate serve --tls-cert {certs.cert} --tls-key {certs.key}
  (or VOXGATE_TLS_CERT={certs.cert} VOXGATE_TLS_KEY={certs.key})
  and use https://localhost:8000/v1 as the base URL (wss:// for realtime).

Trust the CA in clients:
  Node (openai SDK, fetch, ws):  NODE_EXTRA_CA_CERTS={certs.ca} node app.mjs
  Python (openai, httpx, websockets):  SSL_CERT_FILE={certs.ca} python app.py
    (SSL_CERT_FILE replaces the default roots of that process: fine for local use)
  curl:  curl --cacert {certs.ca} https://localhost:8000/health
  Browsers: import {certs.ca} as a trusted certificate authority (Chrome: Settings >
    Privacy and security > Security > Manage certificates; Firefox: Settings > Privacy &
    Security > Certificates > View Certificates > Authorities > Import), or add it to the
    system store (Debian/Ubuntu: copy it to /usr/local/share/ca-certificates/voxgate-dev.crt
    and run update-ca-certificates)."""
