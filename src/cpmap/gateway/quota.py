"""Rate limits and query budgets on the ``limits`` library: memory, or Redis to share counts.

Three counters per request: a global rate, the client's rate (requests), and the client's query
budget (rows: a batch of 64 is 64 queries, which is what an extraction attack pays). Failed
authentications are counted per client address, so guessing keys is rate-limited too. Fixed
windows: in memory, a dict of ``[count, window end]`` per counter (:class:`LocalCounters`, no
await, no timer task: the ``limits`` memory storage cost about 40 us a hit here); in Redis, one
pipelined Lua call per hit (:mod:`~cpmap.gateway.rediscount`), and on the infer route one call
for the client's rate and budget together (:meth:`Quota.admit_spend`). ``limits`` parses the
rates and names the counters, so keys are the same in both. The global rate protects this
process and is always counted in memory.

When the store behind the limits fails (Redis unreachable), requests are refused with 503
(fail closed) unless ``fail_open`` is set; failing open is logged and reported once through
``on_fail_open`` so that it becomes an alert.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse

from cpmap.gateway.errors import GatewayError, Refusal

log = logging.getLogger("cpmap.gateway")


def item(text: str) -> RateLimitItem:
    try:
        return parse(text)
    except ValueError as e:
        raise GatewayError(f"limit {text!r}: use COUNT/second|minute|hour|day|month") from e


class LocalCounters:
    """Fixed-window counters of this process: a window starts at its first hit and lasts the
    limit's period (the semantics of ``limits``' fixed window and of the Redis script)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._slots: dict[str, list[float]] = {}  # key -> [count, window end (monotonic)]
        self.max_keys = max_keys

    def incr(self, key: str, amount: int, expiry_s: int) -> tuple[int, float]:
        """(count after adding ``amount``, seconds until the window ends)."""
        now = time.monotonic()
        slot = self._slots.get(key)
        if slot is None or slot[1] <= now:
            if len(self._slots) >= self.max_keys:
                self._sweep(now)
            slot = self._slots[key] = [0, now + expiry_s]
        slot[0] += amount
        return int(slot[0]), slot[1] - now

    def _sweep(self, now: float) -> None:
        """Drop ended windows; if every window is live, drop all (a flood of new keys must
        not grow memory without bound; it can only under-count, never lock anyone out)."""
        live = {k: v for k, v in self._slots.items() if v[1] > now}
        self._slots = live if len(live) < self.max_keys else {}


@dataclass(frozen=True)
class Window:
    """A counter's state after a hit: for the RateLimit headers."""

    name: str
    limit: RateLimitItem
    remaining: int
    reset_in: int

    def policy(self) -> str:
        return f'"{self.name}";q={self.limit.amount};w={self.limit.get_expiry()}'

    def state(self) -> str:
        return f'"{self.name}";r={max(self.remaining, 0)};t={self.reset_in}'


def headers(windows: list[Window]) -> dict[str, str]:
    return {"RateLimit-Policy": ", ".join(w.policy() for w in windows),
            "RateLimit": ", ".join(w.state() for w in windows)}


class Quota:
    def __init__(self, namespace: str, global_rate: str, auth_fail_rate: str,
                 redis_url: str = "", fail_open: bool = False,
                 on_fail_open: Callable[[str], None] | None = None,
                 redis_timeout: float = 2.0) -> None:
        from cpmap.gateway.rediscount import RedisCounters

        self.namespace = namespace
        # shared counters: one pipelined Lua round trip per hit (see rediscount)
        self.counters = RedisCounters(redis_url, redis_timeout) if redis_url else None
        self.local = LocalCounters()  # memory mode, and the global rate (never shared)
        self.global_rate = item(global_rate)
        self.auth_fail = item(auth_fail_rate)
        self.fail_open = fail_open
        self.shared = bool(redis_url)
        self._on_fail_open = on_fail_open
        self._items: dict[str, RateLimitItem] = {}
        self._keys: dict[tuple[str, tuple[str, ...]], str] = {}  # (rate, ids) -> counter key
        self._blocked: dict[str, float] = {}  # address -> until (failed authentications)
        self.failed_open = 0

    def parsed(self, text: str) -> RateLimitItem:
        found = self._items.get(text)
        if found is None:
            found = self._items[text] = item(text)
        return found

    async def _guard(self, coro: Any) -> Any:
        """Run a storage call; a failing store is 503 (or, when configured, allowed)."""
        try:
            return await coro
        except Exception as e:  # noqa: BLE001 - any storage failure: decide once, here
            if not self.fail_open:
                raise Refusal(503, "rate-limit store unavailable; refusing requests (fail "
                              "closed)", "limits-unavailable") from None
            self.failed_open += 1
            if self.failed_open == 1:
                log.warning("rate-limit store failed (%s); FAILING OPEN", type(e).__name__)
                if self._on_fail_open is not None:
                    self._on_fail_open(type(e).__name__)
            return None

    def key(self, limit: RateLimitItem, ids: tuple[str, ...]) -> str:
        """The counter's name (``limits``' naming), cached: it is asked several times a
        request."""
        cache = (str(limit), ids)
        found = self._keys.get(cache)
        if found is None:
            if len(self._keys) > 100_000:
                self._keys.clear()
            found = self._keys[cache] = limit.key_for(self.namespace, *ids)
        return found

    async def _count(self, limit: RateLimitItem, ids: tuple[str, ...], cost: int,
                     shared: bool = True) -> tuple[int, int] | None:
        """(count after adding ``cost``, seconds to the window's end); in Redis unless the
        quota is local or ``shared`` is false; None when the store failed open."""
        key = self.key(limit, ids)
        if shared and self.counters is not None:
            got = await self._guard(self.counters.incr(key, cost, limit.get_expiry()))
            if got is None:
                return None
            return got[0], max(1, math.ceil(got[1] / 1000))
        count, left = self.local.incr(key, cost, limit.get_expiry())
        return count, max(1, math.ceil(left))

    async def _hit(self, name: str, limit: RateLimitItem, ids: tuple[str, ...], cost: int,
                   reason: str, status: int = 429, shared: bool = True) -> Window | None:
        counted = await self._count(limit, ids, cost, shared)
        if counted is None:
            return None
        return self._window(name, limit, counted, reason, status)

    @staticmethod
    def _window(name: str, limit: RateLimitItem, counted: tuple[int, int], reason: str,
                status: int = 429) -> Window:
        """The window after a hit, or the refusal when the hit went over the limit."""
        count, reset_in = counted
        window = Window(name, limit, limit.amount - count, reset_in)
        if count > limit.amount:
            what = "query budget spent" if name == "budget" else "rate limit exceeded"
            raise Refusal(status, f"{what}: {limit.amount} per {_per(limit)}; retry in "
                          f"{reset_in} s", reason,
                          {"Retry-After": str(reset_in), **headers([window])})
        return window

    async def check_address(self, address: str) -> None:
        """Refuse an address that failed authentication too often (before checking its key).

        The block is learnt from the shared counter whenever this process sees one of the
        address's failures; checking it costs no storage call.
        """
        until = self._blocked.get(address)
        if until is not None:
            wait = math.ceil(until - time.time())
            if wait > 0:
                raise Refusal(429, f"too many failed authentications; retry in {wait} s",
                              "auth-rate", {"Retry-After": str(wait)})
            del self._blocked[address]

    async def auth_failed(self, address: str) -> None:
        counted = await self._count(self.auth_fail, ("authfail", address), 1)
        if counted is not None and counted[0] >= self.auth_fail.amount:
            if len(self._blocked) > 100_000:
                self._blocked.clear()
            self._blocked[address] = time.time() + counted[1]

    async def admit(self, client: str, rate: str) -> list[Window]:
        """Count one request against the global (per process) and the client's rate."""
        self.admit_global()
        own = await self._hit("rate", self.parsed(rate), ("rate", client), 1, "rate")
        return [own] if own is not None else []

    def admit_global(self) -> None:
        """The per-process global rate alone (always in memory, no await)."""
        counted = self.local.incr(self.key(self.global_rate, ("global",)), 1,
                                  self.global_rate.get_expiry())
        self._window("global", self.global_rate, (counted[0], max(1, math.ceil(counted[1]))),
                     "global-rate")

    async def admit_spend(self, client: str, rate: str, model: str, budget: str, rows: int,
                          monthly: bool) -> tuple[list[Window], Window | None]:
        """The client's rate (one request) and budget (``rows``) in one Redis round trip; the
        budget is not charged when the rate refuses. The caller counted the global rate."""
        assert self.counters is not None  # noqa: S101 - only with Redis
        rlimit, blimit = self.parsed(rate), self.parsed(budget)
        got = await self._guard(self.counters.incr_pair(
            self.key(rlimit, ("rate", client)), rlimit.get_expiry(), rlimit.amount,
            self.key(blimit, ("budget", model, client)), rows, blimit.get_expiry()))
        if got is None:
            return [], None
        own = self._window("rate", rlimit, (got[0], max(1, math.ceil(got[1] / 1000))), "rate")
        spent = self._window("budget", blimit, (got[2], max(1, math.ceil(got[3] / 1000))),
                             "budget", 403 if monthly else 429)
        return [own], spent

    async def spend(self, client: str, model: str, budget: str, rows: int,
                    monthly: bool) -> Window | None:
        """Count ``rows`` queries against the client's budget for ``model``."""
        return await self._hit("budget", self.parsed(budget), ("budget", model, client), rows,
                               "budget", 403 if monthly else 429)


class TokenBudget:
    """Chat tokens (prompt and completion) per client against a budget such as 100000/day.

    A request reserves its prompt (estimated) plus its ``max_tokens`` before it goes upstream,
    so a client can never run past its budget by one long answer; when the answer comes back
    the reservation is settled to what was used (the upstream's own ``usage`` count when it
    reports one), and a refused or failed request gives its reservation back.
    """

    def __init__(self, quota: Quota, budget: str) -> None:
        self.quota, self.limit = quota, quota.parsed(budget)

    async def reserve(self, client: str, model: str, tokens: int) -> Window | None:
        try:
            return await self.quota._hit("tokens", self.limit, ("tokens", model, client),
                                         tokens, "token-budget")
        except Refusal:
            await self.settle(client, model, -tokens)  # a refused request costs nothing
            raise

    async def settle(self, client: str, model: str, delta: int) -> None:
        """Correct the count by ``delta`` tokens (negative: give back unused reservation)."""
        if delta:
            await self.quota._count(self.limit, ("tokens", model, client), delta)


def _per(limit: RateLimitItem) -> str:
    name = limit.GRANULARITY.name
    return name if limit.multiples == 1 else f"{limit.multiples} {name}s"
