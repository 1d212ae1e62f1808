"""Choosing the next token from logits, under an optional grammar mask.

The vocabulary is large (262k for Gemma 3), so the mask is consulted lazily: greedy decoding takes
the model's favourite token when the grammar allows it (the usual case) and only masks the whole
vocabulary when it does not; temperature sampling draws from the `TOP_K` most likely allowed tokens,
like llama.cpp's default sampler chain.
"""

from __future__ import annotations

import numpy as np

TOP_K = 40


def _allowed(bitmask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """llguidance's bitmask (one bit per token, little-endian) tested for each of `tokens`."""
    return ((bitmask[tokens >> 3] >> (tokens & 7)) & 1).astype(bool)


def _all_allowed(bitmask: np.ndarray, n_vocab: int) -> np.ndarray:
    return np.unpackbits(bitmask, bitorder="little")[:n_vocab].view(bool)


def choose(
    logits: np.ndarray, bitmask: np.ndarray | None, temperature: float, rng: np.random.Generator
) -> int:
    """Greedy at temperature 0, else a draw from softmax(logits / temperature) over the top allowed tokens."""
    if temperature <= 0.0:
        best = int(np.argmax(logits))
        if bitmask is None or _allowed(bitmask, np.array([best]))[0]:
            return best
        return int(np.argmax(np.where(_all_allowed(bitmask, logits.size), logits, -np.inf)))
    candidates = np.argpartition(logits, -TOP_K)[-TOP_K:]
    if bitmask is not None:
        candidates = candidates[_allowed(bitmask, candidates)]
        if candidates.size == 0:
            candidates = np.flatnonzero(_all_allowed(bitmask, logits.size))
            if candidates.size > TOP_K:
                candidates = candidates[np.argpartition(logits[candidates], -TOP_K)[-TOP_K:]]
    scores = logits[candidates].astype(np.float64) / temperature
    weights = np.exp(scores - scores.max())
    return int(candidates[rng.choice(candidates.size, p=weights / weights.sum())])


def log_softmax(logits: np.ndarray) -> np.ndarray:
    scores = logits.astype(np.float64)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
