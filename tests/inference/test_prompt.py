"""Prompts are rendered with the chat template pinned in models.lock (the Gemma GGUF carries none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_sre_inference import lock as lockfile
from smart_sre_inference.api import Message
from smart_sre_inference.grammar import close_objects
from smart_sre_inference.prompt import PromptError, render
from smart_sre_inference.settings import EngineSettings

LOCK = lockfile.load(Path(__file__).resolve().parents[2] / "models.lock")
TEMPLATE = LOCK.get("gemma-3-270m-q4_k_m").chat_template


def test_gemma_turns_keep_the_system_message_in_the_first_user_turn() -> None:
    text = render(
        TEMPLATE,
        [
            Message(role="system", content="You are an SRE."),
            Message(role="user", content="Pod crashed."),
            Message(role="assistant", content='{"a":1}'),
            Message(role="user", content="Tool result."),
        ],
        bos_token="<bos>",
    )
    assert text == (
        "<bos><start_of_turn>user\nYou are an SRE.\n\nPod crashed.<end_of_turn>\n"
        '<start_of_turn>model\n{"a":1}<end_of_turn>\n'
        "<start_of_turn>user\nTool result.<end_of_turn>\n<start_of_turn>model\n"
    )


def test_a_growing_transcript_renders_to_a_growing_prefix() -> None:
    turns = [Message(role="system", content="s"), Message(role="user", content="u1")]
    first = render(TEMPLATE, turns, bos_token="<bos>")
    longer = render(
        TEMPLATE,
        [*turns, Message(role="assistant", content="a1"), Message(role="user", content="u2")],
        bos_token="<bos>",
    )
    assert longer.startswith(first)


def test_turns_out_of_order_are_a_clear_error() -> None:
    with pytest.raises(PromptError, match="alternate"):
        render(TEMPLATE, [Message(role="user", content="a"), Message(role="user", content="b")], bos_token="")


def test_objects_without_a_rule_forbid_extra_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "object", "properties": {}}, "b": {"type": "string"}},
    }
    closed = close_objects(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    assert "additionalProperties" not in closed["properties"]["b"]
    assert close_objects({"type": "object", "additionalProperties": True}) == {
        "type": "object",
        "additionalProperties": True,
    }


def test_engine_settings_come_from_the_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMART_SRE_N_GPU_LAYERS", "12")
    monkeypatch.setenv("SMART_SRE_N_CTX", "8192")
    settings = EngineSettings.from_env(n_threads=3)
    assert (settings.n_gpu_layers, settings.n_ctx, settings.threads()) == (12, 8192, 3)
    assert EngineSettings.from_env(n_gpu_layers="auto").n_gpu_layers == "auto"
