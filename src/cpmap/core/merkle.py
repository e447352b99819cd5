"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.

Our own implementation rather than pymerkle: the ledger needs an incremental root (a frontier of
perfect subtrees, O(log n) per append, persisted with each entry) and proofs over leaf hashes it
streams from the store, neither of which pymerkle exposes. It is small and property-tested
against a direct transcription of the RFC's recursive definitions (tests/core/test_merkle.py).

Verification follows transparency-dev/merkle (``proof/verify.go``), the reference that
witnesses and monitors run, and passes its published vectors (tests/assets/merkle/):

* an inclusion proof needs ``0 <= index < size``: nothing is included in an empty tree;
* a consistency proof needs ``0 < old_size <= new_size`` (RFC 6962 section 2.1.2): a proof
  from the empty tree is meaningless and always rejected, whatever the proof or the sizes;
* equal sizes verify only with an empty proof and equal roots; unequal sizes never with an
  empty proof; a proof of the wrong length is rejected;
* every hash (leaf, roots, proof nodes) is exactly 32 bytes. The reference checks only the leaf
  and so accepts ``(1, 1)`` with two equal 12-byte "roots"; we reject that one vector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
HASH_SIZE = 32


def _sized(*hashes: bytes | Sequence[bytes]) -> bool:
    """True when every hash given (or held in a given sequence) is exactly 32 bytes."""
    for h in hashes:
        if isinstance(h, bytes | bytearray):
            if len(h) != HASH_SIZE:
                return False
        elif any(not isinstance(p, bytes | bytearray) or len(p) != HASH_SIZE for p in h):
            return False
    return True


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The right edge of a growing tree: the roots of its perfect subtrees, largest first.

    Enough to compute the root after each append in O(log n) without the leaves, so that
    the ledger can sign a checkpoint in the same transaction as the entry.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise ValueError("frontier does not match tree size")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        self.hashes.append(leaf)
        self.size += 1
        # Merge one pair per trailing one bit of the old size: those subtrees are now equal.
        carry = self.size
        while carry & 1 == 0 and len(self.hashes) >= 2:
            right = self.hashes.pop()
            left = self.hashes.pop()
            self.hashes.append(node_hash(left, right))
            carry >>= 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)


def root_of(leaves: Iterable[bytes]) -> bytes:
    """Root of a tree over the given leaf hashes."""
    f = Frontier()
    for leaf in leaves:
        f.append(leaf)
    return f.root()


class MerkleTree:
    """A tree over known leaf hashes, with perfect subtrees precomputed for fast proofs."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) >= 2:
            prev = self.levels[-1]
            self.levels.append(
                [node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def _hash(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        height = n.bit_length() - 1
        if n == 1 << height and start % n == 0:
            return self.levels[height][start >> height]
        k = _split(n)
        return node_hash(self._hash(start, start + k), self._hash(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        n = self.size if size is None else size
        self._check_size(n)
        return self._hash(0, n)

    def _check_size(self, n: int) -> None:
        if not 0 <= n <= self.size:
            raise ValueError(f"tree size {n} out of range 0..{self.size}")

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = self.size if size is None else size
        self._check_size(n)
        if not 0 <= index < n:
            raise ValueError(f"index {index} out of range for tree size {n}")
        proof: list[bytes] = []
        start, end, m = 0, n, index
        while end - start > 1:
            k = _split(end - start)
            if m < k:
                proof.append(self._hash(start + k, end))
                end = start + k
            else:
                proof.append(self._hash(start, start + k))
                start, m = start + k, m - k
        return proof[::-1]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        n = self.size if new_size is None else new_size
        self._check_size(n)
        if not 0 < old_size <= n:
            raise ValueError(f"old size {old_size} out of range 1..{n}: a consistency proof "
                             "from the empty tree is meaningless")
        if old_size == n:
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, n, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._hash(start + k, end))
                end = start + k
            else:
                proof.append(self._hash(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            proof.append(self._hash(start, end))
        return proof[::-1]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2; ``0 <= index < size`` and 32-byte hashes, or False."""
    if not 0 <= index < size or not _sized(leaf, root, proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2 for ``0 < old_size <= new_size`` and 32-byte hashes, or False.

    Size 0 is refused even towards size 0 (transparency-dev/merkle PR 236): an empty tree
    proves nothing, and a verifier that answers True for it lets any root pass as a successor.
    """
    if not 0 < old_size <= new_size or not _sized(old_root, new_root, proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
