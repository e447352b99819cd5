"""DSSE interop with securesystemslib: key ids both ways, and the auditor's recipe."""

from __future__ import annotations

import hashlib
import json

import pytest

from cpmap.core import dsse
from cpmap.core.keys import SigningKey

sslib = pytest.importorskip("securesystemslib")
from securesystemslib.dsse import Envelope as SslibEnvelope  # noqa: E402
from securesystemslib.exceptions import VerificationError  # noqa: E402
from securesystemslib.signer import CryptoSigner, SSlibKey  # noqa: E402

PAYLOAD = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": []}).encode()


def _theirs(envelope: dsse.Envelope) -> SslibEnvelope:
    return SslibEnvelope.from_dict(envelope.to_dict())


def test_default_sslib_key_does_not_match_cpmap_keyid() -> None:
    """Why the recipe exists: SSlibKey.from_crypto computes a different key id."""
    key = SigningKey.generate()
    envelope = dsse.sign(PAYLOAD, key)
    default = SSlibKey.from_crypto(key.public.key)
    assert default.keyid == dsse.sslib_keyid(key.public) != key.keyid
    with pytest.raises(VerificationError):
        _theirs(envelope).verify([default], 1)


def test_auditor_recipe_verifies_cpmap_envelopes() -> None:
    """The one-liner in docs/ledger.md: give the key cpmap's id (SHA-256 of the raw key)."""
    key = SigningKey.generate()
    envelope = dsse.sign(PAYLOAD, key)
    pub = key.public.key
    # -- the recipe, as documented --
    sslib_key = SSlibKey.from_crypto(pub, keyid=hashlib.sha256(pub.public_bytes_raw()).hexdigest())
    assert set(_theirs(envelope).verify([sslib_key], 1)) == {key.keyid}
    other = SigningKey.generate().public.key
    impostor = SSlibKey.from_crypto(other, keyid=key.keyid)
    with pytest.raises(VerificationError):
        _theirs(envelope).verify([impostor], 1)


def test_cpmap_verifies_envelopes_signed_by_securesystemslib() -> None:
    """An envelope signed by sslib tooling with a cpmap key (default key id) verifies here."""
    key = SigningKey.generate()
    signer = CryptoSigner(key.key)
    theirs = SslibEnvelope(PAYLOAD, dsse.INTOTO_PAYLOAD_TYPE, {})
    theirs.sign(signer)
    ours = dsse.parse_envelope(json.dumps(theirs.to_dict()), "sslib envelope")
    assert ours.signatures[0].keyid == dsse.sslib_keyid(key.public)
    assert ours.verify([key.public]).keyid == key.keyid
    assert ours.verified_by([SigningKey.generate().public]) is None


def test_cpmap_still_writes_and_verifies_its_own_keyid() -> None:
    """Existing ledgers hold envelopes under cpmap's key id: they keep verifying."""
    key = SigningKey.generate()
    envelope = dsse.sign(PAYLOAD, key)
    assert envelope.signatures[0].keyid == hashlib.sha256(key.public.raw).hexdigest()
    assert dsse.parse_envelope(envelope.to_json(), "ours").verify([key.public]) == key.public
