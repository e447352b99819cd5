"""A black-box model behind an HTTP endpoint (the CP7 gateway, or any compatible service).

Request: ``POST <url>`` with JSON ``{"inputs": [[...], ...]}``; response: JSON
``{"probabilities": [[...], ...]}`` (or ``{"predictions": [label, ...]}``, turned into one-hot
rows, for endpoints that hide confidences). The API key comes from an environment variable,
never from a file or an argument, and is sent as ``Authorization: Bearer``. Every row sent is
counted in :attr:`RemoteModel.queries`, so that black-box attacks can report their cost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cpmap.errors import InputError
from cpmap.models.adapters import as_rows

DEFAULT_KEY_ENV = "CPMAP_MODEL_API_KEY"


class RemoteError(InputError):
    """The endpoint refused a request or answered something that is not a prediction."""


@dataclass
class RemoteModel:
    url: str
    n_classes: int
    input_dim: int
    api_key_env: str = DEFAULT_KEY_ENV
    timeout: float = 30.0
    batch: int = 256
    kind: str = "remote"
    queries: int = 0
    client: Any = field(default=None, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.input_dim,)

    @property
    def shown(self) -> str:
        """The URL as messages and evidence show it: no password, no token parameter."""
        from cpmap.core.store import redact_url

        return redact_url(self.url)

    def preflight(self) -> None:
        """Fail early, before any data is read or access recorded, on an endpoint that does
        not answer: one ``OPTIONS`` request (no rows sent; any HTTP status means reachable)."""
        from urllib.parse import urlsplit

        import httpx

        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as e:
            raise RemoteError(f"{self.shown}: not a valid URL") from e
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"{self.shown}: not an http(s) URL")
        try:
            self._client().request("OPTIONS", self.url, timeout=min(self.timeout, 10.0))
        except httpx.HTTPError as e:
            raise RemoteError(f"{self.shown}: request failed: {type(e).__name__} (endpoint "
                              "unreachable)") from e

    def _client(self) -> Any:
        if self.client is None:
            import httpx

            headers = {"Accept": "application/json"}
            key = os.environ.get(self.api_key_env, "")
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self.client = httpx.Client(timeout=self.timeout, headers=headers)
        return self.client

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        rows = as_rows(x, self.input_dim)
        out = [self._post(rows[i:i + self.batch]) for i in range(0, len(rows), self.batch)]
        if not out:
            return np.zeros((0, self.n_classes), dtype=np.float32)
        return np.concatenate(out)

    def _post(self, rows: np.ndarray) -> np.ndarray:
        import httpx

        try:
            resp = self._client().post(self.url, json={"inputs": rows.tolist()})
        except httpx.HTTPError as e:
            raise RemoteError(f"{self.shown}: request failed: {type(e).__name__}") from e
        self.queries += len(rows)
        if resp.status_code != 200:
            raise RemoteError(f"{self.shown}: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError as e:
            raise RemoteError(f"{self.shown}: response is not JSON") from e
        return self._parse(body, len(rows))

    def _parse(self, body: Any, n: int) -> np.ndarray:
        try:
            return self._parse_body(body, n)
        except (ValueError, TypeError) as e:  # ragged lists, strings where numbers belong
            raise RemoteError(f"{self.shown}: response values are not numbers of one shape") \
                from e

    def _parse_body(self, body: Any, n: int) -> np.ndarray:
        if isinstance(body, dict) and "probabilities" in body:
            probs = np.asarray(body["probabilities"], dtype=np.float32)
        elif isinstance(body, dict) and "predictions" in body:
            labels = np.asarray(body["predictions"], dtype=np.int64)
            if labels.shape != (n,) or labels.min(initial=0) < 0 or \
                    labels.max(initial=0) >= self.n_classes:
                raise RemoteError(f"{self.shown}: predictions do not match the request")
            probs = np.eye(self.n_classes, dtype=np.float32)[labels]
        else:
            raise RemoteError(f"{self.shown}: response has no 'probabilities' or 'predictions'")
        if probs.shape != (n, self.n_classes) or not np.isfinite(probs).all():
            raise RemoteError(f"{self.shown}: expected {n}x{self.n_classes} probabilities, "
                              f"got shape {probs.shape}")
        return probs

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
