"""PII at rest: AES-GCM encryption and keyed-hash blind indexes, keys derived from the secret.

Both keys come from `PATRON_SECRET_KEY` through HKDF with distinct labels, so the database alone
reveals neither the values nor a way to test guesses against the indexes.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_VERSION = "v1"
_NONCE_BYTES = 12


class PiiKeyMissing(RuntimeError):
    """PII was read or written before `configure()` gave Patron its secret."""


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())


class PiiCipher:
    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(_derive(secret, b"patron/pii/aes-gcm/v1"))
        self._index_key = _derive(secret, b"patron/pii/blind-index/v1")

    def encrypt(self, plaintext: str) -> str:
        return self._seal(os.urandom(_NONCE_BYTES), plaintext)

    def encrypt_many(self, plaintexts: Sequence[str | None]) -> list[str | None]:
        """`encrypt` for a batch (None stays None): one read of the random source gives all
        the nonces, each still 96 random bits of its own."""
        nonces = os.urandom(_NONCE_BYTES * len(plaintexts))
        seal = self._seal
        return [
            None if text is None else seal(nonces[at : at + _NONCE_BYTES], text)
            for at, text in zip(range(0, len(nonces), _NONCE_BYTES), plaintexts, strict=True)
        ]

    def _seal(self, nonce: bytes, plaintext: str) -> str:
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        version, _, payload = token.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown PII ciphertext version {version!r}")
        raw = base64.b64decode(payload)
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode()
        except InvalidTag as exc:
            raise ValueError("PII ciphertext does not match this secret key") from exc

    def blind_index(self, kind: str, value: str) -> str:
        """A keyed hash of `value` for exact lookup; `kind` keeps the fields' indexes apart."""
        # hmac.digest: OpenSSL's one-shot HMAC, several times faster than hmac.new for imports.
        return hmac.digest(self._index_key, f"{kind}\x00{value}".encode(), "sha256").hex()[:40]

    def blind_indexes(self, kind: str, values: Sequence[str]) -> list[str]:
        """`blind_index` of each value (an import's batch), without the per-call overhead."""
        key, prefix = self._index_key, f"{kind}\x00"
        return [hmac.digest(key, f"{prefix}{v}".encode(), "sha256").hex()[:40] for v in values]


_secret: str | None = None


def configure(secret: str) -> None:
    global _secret
    _secret = secret


@lru_cache(maxsize=4)
def _cipher_for(secret: str) -> PiiCipher:
    return PiiCipher(secret)


def cipher() -> PiiCipher:
    if _secret is None:
        raise PiiKeyMissing("PII key not configured; call patron.core.crypto.configure(secret)")
    return _cipher_for(_secret)


def blind_index(kind: str, value: str) -> str:
    return cipher().blind_index(kind, value)


class EncryptedString(TypeDecorator[str]):
    """A text column stored encrypted; a plain SELECT shows only ciphertext."""

    impl = String(400)
    cache_ok = True

    def __init__(self, length: int = 400) -> None:
        super().__init__()
        self.impl = String(length)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else cipher().decrypt(value)
