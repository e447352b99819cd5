"""Ed25519 signing keys: generation, 0600 storage, key ids and verification.

Keys are stored as PEM (PKCS#8 private, SubjectPublicKeyInfo public) so that standard tools
(openssl, sigstore, in-toto) can read them. A key id is the SHA-256 of the raw 32-byte public key,
hex encoded: stable, short to compare and independent of the PEM wrapping.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cpmap.errors import InputError

PRIVATE_MODE = 0o600


def key_id(public: Ed25519PublicKey) -> str:
    """Return the hex SHA-256 of the raw public key bytes."""
    return hashlib.sha256(raw_public(public)).hexdigest()


def raw_public(public: Ed25519PublicKey) -> bytes:
    """Return the 32 raw bytes of an Ed25519 public key."""
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class PublicKey:
    """A verification key with its id and a human name (for trust stores and notes)."""

    key: Ed25519PublicKey
    name: str = "cpmap"

    @property
    def keyid(self) -> str:
        return key_id(self.key)

    @property
    def raw(self) -> bytes:
        return raw_public(self.key)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Return True when ``signature`` is a valid signature of ``message``."""
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 key; the only object in cpmap that can sign."""

    key: Ed25519PrivateKey
    name: str = "cpmap"

    @classmethod
    def generate(cls, name: str = "cpmap") -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), name)

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key(), self.name)

    @property
    def keyid(self) -> str:
        return self.public.keyid

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def save(self, private_path: Path, public_path: Path) -> None:
        """Write the key pair; the private key is created 0600 before any byte is written."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        private_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.chmod(private_path, PRIVATE_MODE)
        public_path.write_bytes(self.public.pem())


def load_signing_key(path: Path, name: str = "cpmap") -> SigningKey:
    """Load a PEM private key, refusing one that other users can read."""
    try:
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read signing key: {e.strerror}") from e
    if mode & 0o077:
        raise InputError(
            f"{path}: signing key is readable by other users (mode {mode:o})",
            hint=f"chmod 600 {path}",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise InputError(f"{path}: not a PEM private key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path}: not an Ed25519 private key")
    return SigningKey(key, name)


def parse_public_key(data: bytes, source: str, name: str = "cpmap") -> PublicKey:
    """Parse a PEM public key (or 32 raw bytes in base64/hex is not accepted: PEM only)."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise InputError(f"{source}: not a PEM public key") from e
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{source}: not an Ed25519 public key")
    return PublicKey(key, name)


def load_public_key(path: Path, name: str = "cpmap") -> PublicKey:
    """Load a PEM public key from a file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read public key: {e.strerror}") from e
    return parse_public_key(data, str(path), name)
