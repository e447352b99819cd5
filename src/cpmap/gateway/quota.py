"""Rate limits and query budgets on the ``limits`` library: memory, or Redis to share counts.

Three counters per request: a global rate, the client's rate (requests), and the client's query
budget (rows: a batch of 64 is 64 queries, which is what an extraction attack pays). Failed
authentications are counted per client address, so guessing keys is rate-limited too. Fixed
windows, counted on the ``limits`` storage directly: one increment per counter and request
(the window's end is read only when a window starts), the cheapest that Redis can share. The
global rate protects this process and is always counted in memory.

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


def storage_for(redis_url: str, timeout: float = 2.0) -> Any:
    if not redis_url:
        from limits.aio.storage import MemoryStorage

        return MemoryStorage()
    from limits.aio.storage import RedisStorage
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    url = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
    # One immediate retry on a new connection: after Redis restarts, every pooled connection
    # is dead once ("Connection closed by server"); without it each would cost a client a
    # 503. A retried INCR can only over-count (never admit more than the limit).
    retry: dict[str, Any] = {"retry": Retry(NoBackoff(), 1),  # limits types options narrowly
                             "retry_on_error": [RedisConnectionError]}
    return RedisStorage(url, implementation="redispy", socket_connect_timeout=min(timeout, 0.5),
                        socket_timeout=timeout, **retry)


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
        from limits.aio.storage import MemoryStorage

        from cpmap.gateway.rediscount import RedisCounters

        self.namespace = namespace
        self.storage = storage_for("", redis_timeout)
        # shared counters: one pipelined Lua round trip per hit (see rediscount)
        self.counters = RedisCounters(redis_url, redis_timeout) if redis_url else None
        self.local = MemoryStorage()  # the global rate protects this process: never shared
        self.global_rate = item(global_rate)
        self.auth_fail = item(auth_fail_rate)
        self.fail_open = fail_open
        self.shared = bool(redis_url)
        self._on_fail_open = on_fail_open
        self._items: dict[str, RateLimitItem] = {}
        self._resets: dict[str, float] = {}  # counter key -> end of its current window
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

    async def _count(self, storage: Any, limit: RateLimitItem, ids: tuple[str, ...],
                     cost: int) -> tuple[int, int] | None:
        """(count after adding ``cost``, seconds to the window's end): one storage call in
        the steady state (the window's end is asked only when a window starts)."""
        key = limit.key_for(self.namespace, *ids)
        if storage is self.storage and self.counters is not None:
            got = await self._guard(self.counters.incr(key, cost, limit.get_expiry()))
            if got is None:
                return None
            return got[0], max(1, math.ceil(got[1] / 1000))
        count = await self._guard(storage.incr(key, limit.get_expiry(), amount=cost))
        if count is None:
            return None
        now = time.time()
        reset = self._resets.get(key)
        if reset is None or reset <= now or count == cost:
            reset = await self._guard(storage.get_expiry(key)) or now + limit.get_expiry()
            if len(self._resets) > 100_000:
                self._resets.clear()
            self._resets[key] = reset
        return int(count), max(1, math.ceil(reset - now))

    async def _hit(self, name: str, limit: RateLimitItem, ids: tuple[str, ...], cost: int,
                   reason: str, status: int = 429, storage: Any = None) -> Window | None:
        counted = await self._count(storage or self.storage, limit, ids, cost)
        if counted is None:
            return None
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
        counted = await self._count(self.storage, self.auth_fail, ("authfail", address), 1)
        if counted is not None and counted[0] >= self.auth_fail.amount:
            if len(self._blocked) > 100_000:
                self._blocked.clear()
            self._blocked[address] = time.time() + counted[1]

    async def admit(self, client: str, rate: str) -> list[Window]:
        """Count one request against the global (per process) and the client's rate."""
        await self._hit("global", self.global_rate, ("global",), 1, "global-rate",
                        storage=self.local)
        own = await self._hit("rate", self.parsed(rate), ("rate", client), 1, "rate")
        return [own] if own is not None else []

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
            await self.quota._count(self.quota.storage, self.limit, ("tokens", model, client),
                                    delta)


def _per(limit: RateLimitItem) -> str:
    name = limit.GRANULARITY.name
    return name if limit.multiples == 1 else f"{limit.multiples} {name}s"
