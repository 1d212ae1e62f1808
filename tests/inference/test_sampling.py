"""Sampling never picks a token the grammar forbids, and greedy stays exact."""

from __future__ import annotations

import numpy as np
import pytest

from smart_sre_inference.sampling import choose, log_softmax


@pytest.mark.parametrize("density", [0.9, 0.01, 0.0001])
def test_sampling_stays_inside_the_mask(density: float) -> None:
    rng = np.random.default_rng(7)
    logits = rng.standard_normal(262_144).astype(np.float32)
    allowed = rng.random(logits.size) < density
    allowed[123] = True
    bitmask = np.packbits(allowed, bitorder="little")
    assert choose(logits, bitmask, 0.0, rng) == int(np.argmax(np.where(allowed, logits, -np.inf)))
    assert all(allowed[choose(logits, bitmask, 0.8, rng)] for _ in range(50))
    assert choose(logits, None, 0.0, rng) == int(np.argmax(logits))


def test_a_seed_makes_sampling_repeatable() -> None:
    logits = np.linspace(0, 1, 1000, dtype=np.float32)
    draws = [[choose(logits, None, 1.0, np.random.default_rng(seed)) for seed in range(5)] for _ in range(2)]
    assert draws[0] == draws[1]


def test_log_softmax_normalises() -> None:
    rows = log_softmax(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32))
    assert np.exp(rows).sum(axis=1) == pytest.approx([1.0, 1.0])
