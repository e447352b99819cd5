"""One error hierarchy for all of cpmap.

The CLI catches :class:`Error` once and prints :meth:`Error.diagnostics` as a single line, so
every failure a user can cause (bad input, missing workspace, failed verification) must be raised
as a subclass of :class:`Error`, never as a bare exception with a traceback.
"""

from __future__ import annotations

import re


class Error(Exception):
    """Base for every error cpmap reports to a user.

    ``exit_code`` follows the CLI convention: 2 for bad usage or bad input, 1 for a check that
    ran and failed (a verification, a gate).
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """Return the one-line message shown to the user, with the hint if there is one."""
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class InputError(Error):
    """A file, argument or value given by the user cannot be used."""


class WorkspaceError(Error):
    """The workspace is missing, incomplete or misconfigured."""


class StoreError(Error):
    """The store (SQLite or PostgreSQL) cannot be reached or holds unexpected data."""


class SignatureError(Error):
    """A signature or attestation does not verify."""

    exit_code = 1


class LedgerError(Error):
    """The ledger is inconsistent: an entry or checkpoint was altered, removed or added."""

    exit_code = 1

    def __init__(self, message: str, *, index: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.index = index


class TrustError(Error):
    """A source, supplier or key is not trusted by the workspace policy."""

    exit_code = 1


class VerificationFailed(Error):
    """A verification ran and found a mismatch (modified, missing or added files)."""

    exit_code = 1


_GOT = re.compile(r"(got \d+)\s*:.*$", re.S)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def parse_reason(error: BaseException, limit: int = 160) -> str:
    """What a parser's message says is wrong, without the content it quotes.

    Arrow's CSV errors end with the whole offending row (``Expected 2 columns, got 4: ann,
    123-45-6789,...``) and conversion errors quote the value (``invalid value 'ann@x.org'``): a
    message naming the input must not carry its personal data or secrets into a terminal, a
    CI log or evidence. Keeps the first line, drops what follows ``got N:``, blanks quoted
    text and cuts the rest at ``limit`` characters.
    """
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    if not isinstance(error, UnicodeError):  # a codec error quotes the codec's name only
        first = _QUOTED.sub("'...'", _GOT.sub(r"\1", first))
    return first if len(first) <= limit else first[:limit] + "..."
