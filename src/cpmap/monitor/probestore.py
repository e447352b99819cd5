"""The probing detector's per-client state in Redis, so that replicas judge one stream.

With ``CPMAP_REDIS_URL`` set, every gateway replica serving a version appends a client's rows
to the same Redis lists and reads them back: the recent queries (float32 rows, for the
nearest-neighbour distances), the distances themselves (PRADA), the near-duplicate, OOD and
near-boundary flags (their windows), the client's row count (when PRADA runs) and its rows per
minute (two one-minute buckets, the sliding minute interpolated). A client that spreads its
queries over two replicas is then judged on all of them, as one replica would judge it.

Two pipelined round trips per request (read the state and append the rows; append the
distances and flags computed from them); appends are ``RPUSH`` + ``LTRIM`` (never
read-modify-write), so concurrent replicas lose no row, and a request sees the rows appended
before its read. Keys carry the workspace, the served digest and a hash of the client, and
expire after a day of silence. A Redis failure raises :class:`ProbeStoreError`; the detector
then judges from this process's own state (logged once) and tries the store again after
``STORE_RETRY_S`` (5 s), never failing the request. The calls are synchronous, on the path of
the monitor's check: two local round trips, at most ``timeout`` each when Redis hangs.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

RING = 256
TTL_S = 86_400


class ProbeStoreError(Exception):
    """Redis could not be read or written."""


@dataclass
class SharedView:
    """What the store holds about a client before this request's rows."""

    ring: np.ndarray  # float64 [k, dim], oldest first
    dist: list[float]
    dups: list[bool]
    ood: list[bool]
    near: list[bool]
    rows: int  # the client's rows including this request's
    per_minute: int  # rows in the last minute including this request's


class RedisProbeStore:
    def __init__(self, url: str, namespace: str, timeout: float = 0.5,
                 client: Any = None) -> None:
        import redis

        self.namespace = namespace
        self.redis = client or redis.Redis.from_url(url, socket_timeout=timeout,
                                                    socket_connect_timeout=timeout)

    def _prefix(self, client: str) -> str:
        return f"{self.namespace}:{hashlib.sha256(client.encode()).hexdigest()[:24]}:"

    def read_and_append(self, client: str, rows: np.ndarray) -> SharedView:
        """The client's state, and this request's rows appended to its ring and counts."""
        import redis

        p, n = self._prefix(client), len(rows)
        minute = int(time.time() // 60)
        packed = [r.astype(np.float32).tobytes() for r in rows]
        try:
            pipe = self.redis.pipeline(transaction=False)
            for name in ("ring", "dist", "dups", "ood", "near"):
                pipe.lrange(p + name, 0, -1)
            pipe.rpush(p + "ring", *packed)
            pipe.ltrim(p + "ring", -RING, -1)
            pipe.incrby(p + "rows", n)
            pipe.incrby(f"{p}min:{minute}", n)
            pipe.get(f"{p}min:{minute - 1}")
            pipe.expire(f"{p}min:{minute}", 120)
            for name in ("ring", "rows"):
                pipe.expire(p + name, TTL_S)
            got = pipe.execute()
        except (redis.RedisError, OSError) as e:
            raise ProbeStoreError(type(e).__name__) from e
        ring_raw, dist, dups, ood, near = got[:5]
        dim = rows.shape[1]
        ring = (np.frombuffer(b"".join(r for r in ring_raw if len(r) == 4 * dim),
                              dtype=np.float32).reshape(-1, dim).astype(np.float64)
                if ring_raw else np.zeros((0, dim)))
        total, current, previous = int(got[7]), int(got[8]), int(got[9] or 0)
        into = (time.time() % 60) / 60  # the sliding minute: the previous bucket's tail
        return SharedView(ring, [float(d) for d in dist], [f == b"1" for f in dups],
                          [f == b"1" for f in ood], [f == b"1" for f in near], total,
                          current + int(previous * (1 - into)))

    def append(self, client: str, dist: list[float], dups: list[bool], ood: list[bool],
               near: list[bool]) -> None:
        """This request's distances and flags, appended (each list kept to the last RING)."""
        import redis

        p = self._prefix(client)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for name, values in (("dist", [repr(d) for d in dist]),
                                 ("dups", _bits(dups)), ("ood", _bits(ood)),
                                 ("near", _bits(near))):
                if values:
                    pipe.rpush(p + name, *values)
                    pipe.ltrim(p + name, -RING, -1)
                    pipe.expire(p + name, TTL_S)
            pipe.execute()
        except (redis.RedisError, OSError) as e:
            raise ProbeStoreError(type(e).__name__) from e

    def forget(self, client: str) -> None:
        """Drop a client's state (tests, and a key revoked for good)."""
        p = self._prefix(client)
        keys = list(self.redis.scan_iter(match=p + "*", count=100))
        if keys:
            self.redis.delete(*keys)


def _bits(values: list[bool]) -> list[bytes]:
    return [b"1" if v else b"0" for v in values]
