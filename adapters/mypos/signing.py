"""myPOS Checkout (IPC) signatures and the key material they need.

Every IPC message is signed the same way: the *values* (never the names) in the order they are on the wire,
`Signature` left out, joined with "-", base64-encoded, and that ASCII text signed with RSASSA-PKCS1-v1_5/SHA-256.
Form posts, XML and JSON answers only differ in how the values are read off the wire. Verification always uses
what was received, never a re-serialisation: myPOS's own clients send fields in different orders.
"""
from __future__ import annotations

import base64
import binascii
import json
import xml.etree.ElementTree as ElementTree
from typing import Sequence, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bridge.ports import GatewayConfigError

SIGNATURE = "Signature"

# A parsed XML or JSON answer: (name, value) pairs in document order; a nested object is itself such a tuple.
Document = tuple[tuple[str, Union[str, "Document"]], ...]


class MalformedResponse(ValueError):
    """An answer that is not the XML or JSON it claims to be."""


# --------------------------------------------------------------------------------------------- sign / verify

def signing_base(values: Sequence[str]) -> bytes:
    return base64.b64encode("-".join(values).encode("utf-8"))


def sign(values: Sequence[str], private_key: rsa.RSAPrivateKey) -> str:
    signature = private_key.sign(signing_base(values), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(values: Sequence[str], signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, signing_base(values), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def sign_fields(fields: Sequence[tuple[str, str]], private_key: rsa.RSAPrivateKey) -> tuple[tuple[str, str], ...]:
    """The fields with `Signature` appended last, signed over all their values in the given order."""
    unsigned = tuple((name, value) for name, value in fields if name.lower() != SIGNATURE.lower())
    return unsigned + ((SIGNATURE, sign([value for _, value in unsigned], private_key)),)


def verify_form(fields: Sequence[tuple[str, str]], public_key: rsa.RSAPublicKey) -> bool:
    """A form post as received: its values in order, without the Signature field, must match that field."""
    signatures = [value for name, value in fields if name.lower() == SIGNATURE.lower()]
    if len(signatures) != 1:
        return False
    values = [value for name, value in fields if name.lower() != SIGNATURE.lower()]
    return verify(values, signatures[0], public_key)


def document_values(document: Document, top: bool = True) -> list[str]:
    """Depth-first values of an answer. Only the top-level Signature is left out: a nested object's own
    Signature is part of what the outer signature covers (verified on a real IPCGetTxnStatus answer)."""
    values: list[str] = []
    for name, value in document:
        if top and name.lower() == SIGNATURE.lower():
            continue
        values.extend(document_values(value, top=False) if isinstance(value, tuple) else [value])
    return values


def verify_document(document: Document, public_key: rsa.RSAPublicKey) -> bool:
    signature = lookup(document, SIGNATURE)
    if not isinstance(signature, str) or not signature:
        return False
    return verify(document_values(document), signature, public_key)


def lookup(document: Document, name: str) -> str | Document | None:
    """Case-insensitive lookup: myPOS itself writes `IPCmethod` and `IPCMethod` in the same answer."""
    wanted = name.lower()
    for key, value in document:
        if key.lower() == wanted:
            return value
    return None


# --------------------------------------------------------------------------------------------- parsing answers

def parse_json(text: str) -> Document:
    """Parse a JSON answer keeping key order and the literal text of numbers ("164.50" must not become 164.5)."""
    try:
        parsed = json.loads(text, object_pairs_hook=_pairs, parse_float=str, parse_int=str,
                            parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as error:  # Recursion: arrays nested 100,000 deep
        raise MalformedResponse(f"the answer is not valid JSON: {error}") from None
    if not isinstance(parsed, tuple):
        raise MalformedResponse("the JSON answer is not an object")
    return parsed


def parse_xml(text: str) -> Document:
    """Parse an XML answer: the root's child elements in document order, nested elements as nested documents."""
    # IPC answers never carry a DTD; refusing one rules out entity-expansion tricks before expat sees them.
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise MalformedResponse("the XML answer contains a DTD")
    try:
        root = ElementTree.fromstring(text)
        return _element_document(root)
    except ElementTree.ParseError as error:
        raise MalformedResponse(f"the answer is not valid XML: {error}") from None
    except RecursionError:
        raise MalformedResponse("the XML answer nests deeper than any IPC answer") from None


def to_json(document: Document, plain_numbers: Sequence[str] = ()) -> str:
    """Serialise a document as JSON; values of the names in `plain_numbers` are written as bare numbers."""
    numeric = {name.lower() for name in plain_numbers}
    parts = []
    for name, value in document:
        if isinstance(value, tuple):
            rendered = to_json(value, plain_numbers)
        elif name.lower() in numeric and value.lstrip("-").isdigit():
            rendered = value
        else:
            rendered = json.dumps(value)
        parts.append(f"{json.dumps(name)}:{rendered}")
    return "{" + ",".join(parts) + "}"


def to_xml(document: Document, root: str = "IPC_response") -> str:
    return f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{_xml_element(root, document)}"


def _xml_element(name: str, document: Document) -> str:
    inner = "".join(
        _xml_element(key, value) if isinstance(value, tuple) else f"<{key}>{_xml_text(value)}</{key}>"
        for key, value in document
    )
    return f"<{name}>{inner}</{name}>"


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pairs(pairs: list[tuple[str, object]]) -> Document:
    return tuple((name, _json_value(value)) for name, value in pairs)


def _json_value(value: object) -> str | Document:
    # PHP implode() semantics, which is what myPOS signs: true -> "1", false and null -> "".
    if isinstance(value, tuple) or isinstance(value, str):
        return value
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    if isinstance(value, list):
        return tuple((str(index), _json_value(item)) for index, item in enumerate(value))
    return str(value)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _element_document(element: ElementTree.Element) -> Document:
    items: list[tuple[str, str | Document]] = []
    for child in element:
        if len(child):
            items.append((child.tag, _element_document(child)))
        else:
            items.append((child.tag, child.text or ""))
    return tuple(items)


# --------------------------------------------------------------------------------------------- keys

def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """The merchant's RSA private key (PEM, PKCS#1 or PKCS#8, unencrypted)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if not data.strip():
        raise GatewayConfigError("the merchant private key is empty: paste the PEM text of the store's private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise GatewayConfigError(
            "the merchant private key is password-protected: store it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise GatewayConfigError(
            "the merchant private key cannot be read: expected a PEM block whose first line announces an "
            "(RSA) PRIVATE KEY") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise GatewayConfigError("the merchant private key is not an RSA key: myPOS signs with RSA only")
    return key


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """The myPOS certificate that verifies what myPOS signs."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise GatewayConfigError(
            "the myPOS certificate is missing or not PEM: paste the block starting with "
            "'-----BEGIN CERTIFICATE-----' from the store's key settings")
    try:
        certificate = x509.load_pem_x509_certificate(data)
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        # The test certificate printed in the v1.4 specification (2013, empty serial) is the known case.
        raise GatewayConfigError(
            "the myPOS certificate cannot be parsed (OpenSSL 3 refuses it; the 2013 test certificate from the "
            "v1.4 specification is such a case): use the 2018 re-issue of the myPOS test certificate, or download "
            "the certificate again from the myPOS account") from None
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise GatewayConfigError("the myPOS certificate does not hold an RSA public key")
    return certificate


def certificate_public_key(certificate: x509.Certificate) -> rsa.RSAPublicKey:
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)  # load_certificate refuses anything else
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """A bare RSA public key (PEM), as a merchant registers it; a certificate is accepted too."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"-----BEGIN CERTIFICATE-----" in data:
        return certificate_public_key(load_certificate(data))
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise GatewayConfigError("the public key cannot be read: expected '-----BEGIN PUBLIC KEY-----'") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise GatewayConfigError("the public key is not an RSA key")
    return key
