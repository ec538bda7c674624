"""A bounded cache of evaluated prompt prefixes, each held in the KV memory as one sequence id.

MCTSr's prompts all start with the same system text and problem, and the critique, refine and reward
prompts of one answer share that answer too. A prefix evaluated once is kept under its own sequence id;
a new prompt copies the longest cached match (`llama_memory_seq_cp`, which shares KV cells rather than
copying them) and evaluates only the rest. Least recently used entries go first when sequence ids or
KV cells run out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class Entry:
    seq: int  # the sequence id that holds this prefix's KV
    tokens: np.ndarray  # int32 token ids of the prefix (positions 0..len-1)
    last_used: int


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two token arrays."""
    m = min(len(a), len(b))
    if m == 0:
        return 0
    diff = np.flatnonzero(a[:m] != b[:m])
    return int(diff[0]) if len(diff) else m


class PrefixCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity  # most entries held at once
        self.entries: list[Entry] = []
        self._clock = itertools.count()

    def __len__(self) -> int:
        return len(self.entries)

    def cells(self) -> int:
        """An upper bound of the KV cells the entries hold (shared cells are counted per entry)."""
        return sum(len(e.tokens) for e in self.entries)

    def longest_match(self, tokens: np.ndarray) -> tuple[Entry | None, int]:
        best, best_len = None, 0
        for e in self.entries:
            n = common_prefix(e.tokens, tokens)
            if n > best_len:
                best, best_len = e, n
        if best is not None:
            best.last_used = next(self._clock)
        return best, best_len

    def add(self, seq: int, tokens: np.ndarray) -> Entry:
        e = Entry(seq=seq, tokens=tokens, last_used=next(self._clock))
        self.entries.append(e)
        return e

    def find_exact(self, tokens: np.ndarray) -> Entry | None:
        for e in self.entries:
            if len(e.tokens) == len(tokens) and common_prefix(e.tokens, tokens) == len(tokens):
                e.last_used = next(self._clock)
                return e
        return None

    def pop_lru(self) -> Entry | None:
        if not self.entries:
            return None
        e = min(self.entries, key=lambda x: x.last_used)
        self.entries.remove(e)
        return e
