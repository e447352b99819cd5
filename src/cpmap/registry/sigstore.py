"""OpenSSF model-signing bundles for registered versions (optional extra ``model-signing``).

The registry's own manifest is signed with the workspace Ed25519 key; the OpenSSF
``model_signing`` tool expects an ECDSA key, so a separate P-256 key is kept in
``.cpmap/keys/model-signing.pem`` (0600) and its public key beside it. Users verify with their
tool alone::

    model_signing verify key MODEL --signature BUNDLE --public_key .cpmap/keys/model-signing.pub
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.errors import InputError, VerificationFailed
from cpmap.registry.artifact import materialize
from cpmap.registry.predicates import ModelSigning

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion


def _require() -> Any:
    try:
        import model_signing
    except ImportError as e:
        raise InputError("--sigstore-bundle needs the model-signing extra",
                         hint="pip install 'cpmap[model-signing]'") from e
    return model_signing


def ecdsa_key(ws: Workspace) -> tuple[Path, Path]:
    """The workspace's P-256 model-signing key pair, created 0600 on first use."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    priv = ws.dir / "keys" / "model-signing.pem"
    pub = ws.dir / "keys" / "model-signing.pub"
    if not priv.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        priv.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        pub.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    elif priv.stat().st_mode & 0o077:
        raise InputError(f"{priv}: model-signing key is readable by other users",
                         hint=f"chmod 600 {priv}")
    return priv, pub


def sign_bundle(ws: Workspace, mv: ModelVersion, out: Path) -> dict[str, Any]:
    """Write an OpenSSF model-signing bundle for the version's (verified) artifact."""
    ms = _require()
    priv, pub = ecdsa_key(ws)
    with tempfile.TemporaryDirectory(prefix="cpmap-sign-") as tmp:
        model_path = materialize(ws, mv.artifact, Path(tmp) / "model")
        try:
            ms.signing.Config().use_elliptic_key_signer(private_key=priv).sign(model_path, out)
        except OSError as e:
            raise InputError(f"{out}: cannot write bundle: {e.strerror}") from e
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    signing = ModelSigning(verdict=Verdict.PASS, name=mv.name, version=mv.version,
                           bundle_sha256=digest, public_key=str(pub),
                           highlights=(f"OpenSSF model-signing bundle for {mv.ref} "
                                       "(ECDSA P-256)",))
    record(Evidence.of(signing, [Subject(f"model:{mv.ref}", mv.digest),
                                 Subject(f"bundle:{out.name}", digest)]), ws)
    return {"path": str(out), "sha256": digest, "public_key": str(pub)}


def verify_bundle(model_path: Path, bundle: Path, public_key: Path) -> None:
    """Check a bundle with the OpenSSF library (what `model_signing verify key` does)."""
    ms = _require()
    try:
        ms.verifying.Config().use_elliptic_key_verifier(public_key=public_key).verify(
            model_path, bundle)
    except ValueError as e:
        raise VerificationFailed(f"{model_path}: model-signing bundle does not verify: {e}") from e
