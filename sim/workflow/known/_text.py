"""Deterministic pseudo-English text for the text workflows (no data files needed)."""

from __future__ import annotations

import numpy as np

_SYLLABLES = [
    "th",
    "an",
    "er",
    "on",
    "re",
    "in",
    "ed",
    "nd",
    "ha",
    "at",
    "en",
    "es",
    "of",
    "or",
    "nt",
    "ea",
    "ti",
    "to",
    "it",
    "st",
    "io",
    "le",
    "is",
    "ou",
    "ar",
    "as",
    "de",
    "rt",
    "ve",
]


# Words are one to three syllables, so there are only this many distinct ones: a larger vocabulary
# could never be drawn (the loop below would run forever).
MAX_VOCAB = len(_SYLLABLES) + len(_SYLLABLES) ** 2 + len(_SYLLABLES) ** 3


def vocabulary(size: int, seed: int) -> list[str]:
    if not 1 <= size <= MAX_VOCAB:
        raise ValueError(f"a vocabulary has 1 to {MAX_VOCAB} distinct words, not {size}")
    rng = np.random.default_rng(seed)
    words: dict[str, None] = {}
    while len(words) < size:
        lengths = rng.integers(1, 4, 2 * size)
        picks = rng.integers(0, len(_SYLLABLES), (2 * size, 3))
        for n, row in zip(lengths.tolist(), picks.tolist(), strict=True):
            words["".join(_SYLLABLES[i] for i in row[:n])] = None
            if len(words) == size:
                break
    return list(words)


def make_text(words: int, seed: int = 0, vocab: int = 5000) -> str:
    """``words`` words drawn Zipf-like from a ``vocab``-word vocabulary, with sentences and punctuation."""
    rng = np.random.default_rng(seed)
    vocabulary_ = vocabulary(vocab, seed)
    ranks = np.minimum(rng.zipf(1.3, words) - 1, vocab - 1)
    plain = vocabulary_
    variants = (plain, [w + "." for w in plain], [w + "," for w in plain])
    kind = np.zeros(words, dtype=np.int8)
    kind[6::7] = 2
    kind[16::17] = 1
    return " ".join([variants[k][r] for k, r in zip(kind.tolist(), ranks.tolist(), strict=True)])
