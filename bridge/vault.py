"""Secrets at rest (I9): Fernet encryption with a key derived from ABONNE_SECRET_KEY, and signed customer links."""
from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class VaultError(Exception):
    """A stored secret cannot be decrypted with the configured key."""


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())


class Vault:
    """Encrypts secrets for the database. Accepts old keys for decryption so that a rotation can re-encrypt."""

    def __init__(self, secret_key: str, old_secret_keys: tuple[str, ...] = ()):
        keys = [Fernet(base64.urlsafe_b64encode(_derive(k, b"abonne secrets at rest")))
                for k in (secret_key, *old_secret_keys)]
        self._fernet = MultiFernet(keys)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored secret cannot be decrypted: ABONNE_SECRET_KEY is not the key it was "
                             "encrypted with") from None

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

    def __init__(self, secret_key: str):
        self._secret = secret_key

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt=f"abonne link {purpose}")

    def sign(self, purpose: str, payload: dict[str, Any], issued_at: int) -> str:
        """`issued_at` (Unix seconds) comes from the caller's clock so links expire on injected time too."""
        serializer = self._serializer(purpose)
        # itsdangerous stamps with its own clock; sign the issue time into the payload instead.
        return serializer.dumps({**payload, "iat": issued_at})

    def load(self, purpose: str, token: str, now: int, max_age_seconds: int) -> dict[str, Any]:
        try:
            payload = self._serializer(purpose).loads(token)
        except (BadSignature, SignatureExpired):
            raise LinkError("invalid_link", "this link is not valid: it may be incomplete or altered") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("iat"), int):
            raise LinkError("invalid_link", "this link is not valid")
        if now - payload["iat"] > max_age_seconds:
            raise LinkError("expired_link", "this link has expired; ask the shop for a new one")
        return payload
