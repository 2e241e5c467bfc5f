"""Secrets at rest (I9): Fernet encryption with a key derived from ABONNE_SECRET_KEY, and signed customer links."""
from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bridge.keyring import Keys, KeySource, StaticKeys


class VaultError(Exception):
    """A stored secret cannot be decrypted with the configured key."""


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())


def fernet_for(secret_keys: tuple[str, ...]) -> MultiFernet:
    """Encrypts with the first key, decrypts with any; `rotate` re-encrypts a token under the first."""
    return MultiFernet([Fernet(base64.urlsafe_b64encode(_derive(key, b"abonne secrets at rest")))
                        for key in secret_keys])


class Vault:
    """Encrypts secrets for the database with the current key; decrypts with it or a previous one, so that a
    rotation can re-encrypt while running processes keep reading."""

    def __init__(self, secret_key: str | KeySource, old_secret_keys: tuple[str, ...] = ()):
        self._source = secret_key if not isinstance(secret_key, str) else StaticKeys(Keys(secret_key,
                                                                                          old_secret_keys))
        self._keys: Keys | None = None
        self._fernet: MultiFernet

    def _multi(self) -> MultiFernet:
        keys = self._source.keys()
        if keys is not self._keys:  # the key file was rewritten: derive again (rare)
            self._fernet, self._keys = fernet_for(keys.decryption_keys()), keys
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self._multi().encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._multi().decrypt(token.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored secret cannot be decrypted: the secret key (ABONNE_SECRET_KEY or the "
                             "instance key file) is not the key it was encrypted with") from None

    def encrypt_json(self, values: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(values, sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        return json.loads(self.decrypt(token))


class LinkError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class LinkSigner:
    """Signed, expiring customer links (/pay/<token>, /card/<token>)."""

    def __init__(self, secret_key: str | KeySource):
        self._source = secret_key if not isinstance(secret_key, str) else StaticKeys(Keys(secret_key))

    def _serializer(self, purpose: str, keys: tuple[str, ...]) -> URLSafeTimedSerializer:
        # itsdangerous signs with the last key and verifies with any: keys of a rotation stay valid for links.
        return URLSafeTimedSerializer(list(reversed(keys)), salt=f"abonne link {purpose}")

    def sign(self, purpose: str, payload: dict[str, Any], issued_at: int) -> str:
        """`issued_at` (Unix seconds) comes from the caller's clock so links expire on injected time too."""
        serializer = self._serializer(purpose, (self._source.keys().current,))
        # itsdangerous stamps with its own clock; sign the issue time into the payload instead.
        return serializer.dumps({**payload, "iat": issued_at})

    def load(self, purpose: str, token: str, now: int, max_age_seconds: int) -> dict[str, Any]:
        try:
            payload = self._serializer(purpose, self._source.keys().link_keys(now)).loads(token)
        except (BadSignature, SignatureExpired):
            raise LinkError("invalid_link", "this link is not valid: it may be incomplete or altered") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("iat"), int):
            raise LinkError("invalid_link", "this link is not valid")
        if now - payload["iat"] > max_age_seconds:
            raise LinkError("expired_link", "this link has expired; ask the shop for a new one")
        return payload
