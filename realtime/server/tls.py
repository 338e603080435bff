"""HTTPS and WSS on the server's own port: the SSL context built from ``tls_cert``/``tls_key``.

:func:`server_context` returns None when TLS is off, else a server-side
:class:`ssl.SSLContext` (TLS 1.2 or later, ALPN ``http/1.1``) holding the certificate chain
and its key. Anything wrong with the files (not PEM, a key that does not match, an
encrypted key) is a :class:`~realtime.server.errors.ConfigurationError` with one line
naming the fix; nothing prompts for a passphrase. :func:`describe` summarises the
certificate for the log (names and expiry; never key material).
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from realtime.server.errors import ConfigurationError
from realtime.server.settings import Settings

FIX = (
    "use a PEM certificate chain and its unencrypted PEM key "
    "(`voxgate certs dev` writes a development pair)"
)


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The SSL context for the listening socket, or None without TLS.

    Raises:
        ConfigurationError: the certificate or key cannot be used.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key, password=_no_passphrase)
    except _EncryptedKey:
        raise ConfigurationError(
            f"the TLS key {settings.tls_key} is encrypted: voxgate needs it unencrypted "
            "(openssl pkey -in KEY -out PLAIN.pem), readable only by its user"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"cannot serve TLS with {settings.tls_cert} and {settings.tls_key}: "
            f"{_reason(exc)}; {FIX}"
        ) from None
    return context


class _EncryptedKey(Exception):
    """Raised from the passphrase callback: OpenSSL asks only for an encrypted key."""


def _no_passphrase() -> bytes:
    raise _EncryptedKey


def _reason(exc: OSError) -> str:
    reason = getattr(exc, "reason", None)
    if reason == "KEY_VALUES_MISMATCH":
        return "the key does not belong to the certificate"
    if isinstance(exc, ssl.SSLError):
        return "not a PEM certificate and a PEM private key"
    return exc.strerror or str(exc)


def describe(cert: Path) -> str:
    """``names …, expires DATE`` for the certificate (the first of a chain) in ``cert``."""
    from cryptography import x509

    try:
        leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):  # OpenSSL took it; only the summary is lost
        return "certificate not summarised"
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        shown = [str(name.value) for name in names]
    except x509.ExtensionNotFound:
        shown = [attr.value for attr in leaf.subject if isinstance(attr.value, str)]
    expires = leaf.not_valid_after_utc
    note = " (EXPIRED)" if expires < dt.datetime.now(dt.UTC) else ""
    return f"names {', '.join(shown) or '-'}, expires {expires:%Y-%m-%d}{note}"
