"""Prompt rendering with the chat template pinned in models.lock.

We render ourselves because the Gemma GGUF carries no template: llama-cpp-python would silently fall
back to llama-2 formatting, and its built-in `gemma` format drops system messages.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from smart_sre_inference.api import Message


class PromptError(ValueError):
    """The messages do not fit the model's chat template."""


def _raise(message: str) -> None:
    raise PromptError(message)


@lru_cache(maxsize=8)
def _compile(template: str):  # type: ignore[no-untyped-def]
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    env.globals["raise_exception"] = _raise
    return env.from_string(template)


def render(
    template: str, messages: list[Message], *, bos_token: str, add_generation_prompt: bool = True
) -> str:
    try:
        return _compile(template).render(
            messages=[message.model_dump() for message in messages],
            bos_token=bos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except TemplateError as error:
        raise PromptError(f"chat template failed: {error}") from error
