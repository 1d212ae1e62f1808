"""Schemas compiled to llguidance matchers, cached by schema hash (LRU).

llguidance rather than Outlines' default outlines_core: measured here, outlines_core took 23-31 s per
small schema, never finished a JSON Patch schema and let `<end_of_turn>` cut JSON short; llguidance
compiles lazily (milliseconds) and masks control tokens. Whitespace is fixed (compact separators)
and objects without `additionalProperties` are closed, so the model cannot ramble inside the JSON.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import llguidance
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaError


class SchemaError(ValueError):
    """The schema is not valid JSON Schema, or uses keywords the decoder cannot enforce."""


@dataclass(frozen=True)
class CompiledGrammar:
    key: str
    schema: dict[str, Any]
    validator: Draft202012Validator
    matcher: llguidance.LLMatcher  # pristine; each generation works on a deep copy

    def start(self) -> llguidance.LLMatcher:
        return self.matcher.deep_copy()


def schema_key(schema: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def close_objects(node: Any) -> Any:
    """A copy of `node` where every object schema without an extra-properties rule forbids them."""
    if isinstance(node, list):
        return [close_objects(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: close_objects(value) for key, value in node.items()}
    is_object = node.get("type") == "object" or "properties" in node
    if is_object and "additionalProperties" not in node and "patternProperties" not in node:
        closed["additionalProperties"] = False
    return closed


def compile_schema(schema: dict[str, Any], tokenizer: llguidance.LLTokenizer) -> CompiledGrammar:
    schema = close_objects(schema)
    try:
        Draft202012Validator.check_schema(schema)
    except JsonSchemaError as error:
        raise SchemaError(
            f"invalid JSON Schema at {'/'.join(map(str, error.path)) or '/'}: {error.message}"
        ) from None
    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, overrides={"whitespace_flexible": False})
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, tokenizer)
    if is_error or messages:
        raise SchemaError(f"the decoder cannot enforce this schema: {'; '.join(messages)}")
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    if matcher.is_error():
        raise SchemaError(f"the decoder cannot enforce this schema: {matcher.get_error()}")
    matcher.compute_bitmask()  # builds the lexer's first states, so "compiled" means ready to decode
    return CompiledGrammar(schema_key(schema), schema, Draft202012Validator(schema), matcher)


class GrammarCache:
    def __init__(self, tokenizer: llguidance.LLTokenizer, capacity: int) -> None:
        self._tokenizer = tokenizer
        self._capacity = capacity
        self._entries: OrderedDict[str, CompiledGrammar] = OrderedDict()

    def get(self, schema: dict[str, Any]) -> tuple[CompiledGrammar, bool, float]:
        """The compiled grammar, whether it was a cache hit, and the seconds the lookup took."""
        started = time.perf_counter()
        key = schema_key(schema)
        compiled = self._entries.get(key)
        hit = compiled is not None
        if compiled is None:
            compiled = compile_schema(schema, self._tokenizer)
            self._entries[key] = compiled
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return compiled, hit, time.perf_counter() - started
