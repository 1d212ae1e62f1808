"""The llama context's KV cache as a token list we control.

Consecutive requests of one investigation share a growing prefix; `feed` keeps the longest common
prefix in the cache and evaluates only the new tokens. We drive llama-cpp-python's context and batch
directly (not `Llama.generate`) so logits of every candidate token are available for ranking and
grammar-forced tokens can be evaluated in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp
import numpy as np


class KVSession:
    def __init__(self, llm: llama_cpp.Llama) -> None:
        self._llm = llm
        self._n_vocab = llm.n_vocab()
        self._n_batch = llm.n_batch
        self.tokens: list[int] = []

    def feed(self, prompt: Sequence[int]) -> tuple[np.ndarray, int]:
        """Logits after `prompt`, and how many of its tokens came from the cache."""
        common = 0
        for cached, new in zip(self.tokens, prompt, strict=False):
            if cached != new:
                break
            common += 1
        # The logits of the last prompt token are not kept, so it is always evaluated.
        common = min(common, len(prompt) - 1)
        self.truncate(common)
        common = len(self.tokens)
        return self.extend(prompt[common:]), common

    def extend(self, tokens: Sequence[int], *, all_logits: bool = False) -> np.ndarray:
        """Evaluate `tokens` after the cache: logits of every position (rows), or of the last one."""
        rows: list[np.ndarray] = []
        for start in range(0, len(tokens), self._n_batch):
            chunk = list(tokens[start : start + self._n_batch])
            self._llm._batch.set_batch(chunk, n_past=len(self.tokens), logits_all=all_logits)
            self._llm._ctx.decode(self._llm._batch)
            self.tokens.extend(chunk)
            n_out = len(chunk) if all_logits else 1
            logits = np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(n_out * self._n_vocab,))
            rows.append(logits.reshape(n_out, self._n_vocab).copy())
        return np.concatenate(rows) if all_logits else rows[-1][0]

    def truncate(self, keep: int) -> None:
        """Forget everything after the first `keep` tokens (all of it if the cache cannot cut there)."""
        if keep >= len(self.tokens):
            return
        if not self._llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            self._llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            keep = 0
        del self.tokens[keep:]

    def clear(self) -> None:
        self.truncate(0)
