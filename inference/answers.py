"""The contract every generated answer meets, whichever backend wrote it.

The local engine (`engine.py`) and an OpenAI-compatible endpoint (`remote.py`) both take the request's
schema from here and pass the model's text through `check` before returning it, so a caller gets the
same JSON, or the same error (`Unprocessable` when truncated, `InvalidOutput` when it does not parse or
fit), from either.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

import smart_sre_grammars
from smart_sre_inference.api import GenerateRequest
from smart_sre_inference.errors import InvalidOutput, InvalidRequest, Unprocessable


def schema_for(request: GenerateRequest) -> dict[str, Any]:
    """The request's inline schema, or its grammar template rendered with its values."""
    if request.grammar is not None:
        try:
            return smart_sre_grammars.render(request.grammar.name, request.grammar.values)
        except smart_sre_grammars.TemplateError as error:
            raise InvalidRequest(str(error)) from None
    assert request.json_schema is not None
    return request.json_schema


def truncated(max_tokens: int, text: str) -> Unprocessable:
    """The error for an answer cut off by `max_tokens` before its JSON closed."""
    return Unprocessable(
        f"truncated: the answer did not complete within max_tokens={max_tokens} "
        f"({len(text)} characters so far); raise max_tokens or tighten the schema's bounds"
    )


def check(text: str, validator: Draft202012Validator) -> Any:
    """The parsed answer, or `InvalidOutput` saying where it breaks its schema."""
    try:
        output = json.loads(text)
    except ValueError as error:
        raise InvalidOutput(f"the model's answer is not JSON ({error}): {text[:200]!r}") from None
    problems = sorted(validator.iter_errors(output), key=lambda e: list(e.path))
    if problems:
        where = "/".join(map(str, problems[0].path)) or "/"
        raise InvalidOutput(f"the model's answer does not fit the schema at {where}: {problems[0].message}")
    return output
