"""The one naming rule for datasets, stored models and registry models.

Names end up in refs (``name@version``), file names and report anchors, so they are kept to a
safe alphabet. ``fullmatch`` matters: ``^...$`` with ``match`` accepts a trailing newline.
"""

from __future__ import annotations

import re

from cpmap.errors import InputError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is valid, else raise :class:`InputError` naming the ``kind``."""
    if not NAME_RE.fullmatch(name):
        raise InputError(f"{kind} name {name!r}: use letters, digits, '.', '_' and '-' "
                         "(at most 200, starting with a letter or digit)")
    return name
