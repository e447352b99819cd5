"""Which rules can match a text: every rule keyword found in one pass.

The keywords (several hundred) are compiled into one regex shaped like a trie, wrapped in a
lookahead so that it reports, at every position, the longest keyword starting there; the
keywords that are prefixes of it start there too. One pass of this regex is about 2.5x faster
than one ``in`` test per keyword, and finds exactly the same set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any


def trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, longest first, with one branch per shared prefix."""
    root: dict[str, Any] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(node[ch]) for ch in sorted(k for k in node if k)]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


class Prefilter:
    """keyword -> rule indexes, and the one-pass search for the keywords of a text."""

    def __init__(self, keywords_per_rule: Sequence[Sequence[str]]) -> None:
        owners: dict[str, set[int]] = {}
        for i, keywords in enumerate(keywords_per_rule):
            for k in keywords:
                owners.setdefault(k, set()).add(i)
        # a match of keyword K also means every keyword that is a prefix of K occurs there
        self._rules = {k: frozenset().union(*(owners[j] for j in owners if k.startswith(j)))
                       for k in owners}
        self._search = re.compile("(?=(" + trie_pattern(owners) + "))")
        self.keywords = frozenset(owners)

    def rules_for(self, low: str) -> list[int]:
        """Indexes (ascending) of the rules one of whose keywords occurs in ``low``."""
        found: set[int] = set()
        for k in set(self._search.findall(low)):
            found |= self._rules[k]
        return sorted(found)
