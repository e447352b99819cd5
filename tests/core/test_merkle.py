"""The Merkle tree against a direct transcription of RFC 6962's recursive definitions."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core import merkle


def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return merkle.node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(str(i).encode()) for i in range(n)]


def test_known_vectors() -> None:
    assert merkle.root_of([]) == hashlib.sha256(b"").digest()
    one = merkle.leaf_hash(b"")
    assert one.hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@given(st.integers(min_value=0, max_value=70))
def test_root_matches_reference(n: int) -> None:
    leaves = leaves_of(n)
    assert merkle.root_of(leaves) == mth(leaves)
    assert merkle.MerkleTree(leaves).root() == mth(leaves)


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_inclusion_proofs(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    tree = merkle.MerkleTree(leaves)
    size = data.draw(st.integers(min_value=1, max_value=n))
    m = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = tree.inclusion_proof(m, size)
    assert proof == path(m, leaves[:size])
    root = mth(leaves[:size])
    assert merkle.verify_inclusion(leaves[m], m, size, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"x"), m, size, proof, root)
    if proof:
        bad = [*proof[:-1], merkle.leaf_hash(b"y")]
        assert not merkle.verify_inclusion(leaves[m], m, size, bad, root)
    assert not merkle.verify_inclusion(leaves[m], size, size, proof, root)


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_consistency_proofs(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    tree = merkle.MerkleTree(leaves)
    old = data.draw(st.integers(min_value=1, max_value=n))
    proof = tree.consistency_proof(old, n)
    if old < n:
        assert proof == subproof(old, leaves, True)
    assert merkle.verify_consistency(old, n, mth(leaves[:old]), mth(leaves), proof)
    if old < n:
        wrong_old = merkle.leaf_hash(b"forged")
        assert not merkle.verify_consistency(old, n, wrong_old, mth(leaves), proof)
        assert not merkle.verify_consistency(old, n, mth(leaves[:old]), wrong_old, proof)


@given(st.lists(st.binary(max_size=8), max_size=50))
def test_frontier_is_incremental_root(items: list[bytes]) -> None:
    f = merkle.Frontier()
    seen: list[bytes] = []
    for item in items:
        h = merkle.leaf_hash(item)
        f.append(h)
        seen.append(h)
        assert f.root() == mth(seen)
    restored = merkle.Frontier(f.size, f.hashes)
    assert restored.root() == f.root()
