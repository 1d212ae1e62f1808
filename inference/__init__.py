"""The inference sidecar: a pinned local GGUF model behind grammar-constrained decoding.

`engine.Engine` is the core (usable in-process); `server` is a thin HTTP layer over it; `client` is
what the operator and the agent call; `lock`, `store`, `sources` and `bundle` manage models.lock.
"""
