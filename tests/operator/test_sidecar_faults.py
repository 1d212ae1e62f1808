"""A report through a sidecar that hangs, fails or is busy: it waits, Pending and saying why, and
completes once the sidecar answers again; it never fails for it.

The whole path runs: the analyst, `SidecarInvestigator`, the real investigation of the redis seed case
and `InferenceClient` over HTTP to a fake sidecar on 127.0.0.1 that answers like a model once its
queued faults are used up.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from smart_sre.lifecycle.analysis import Analyst, Backoff, SidecarInvestigator
from smart_sre.lifecycle.approval import SealKey
from smart_sre.lifecycle.concurrency import AnalysisSlots
from smart_sre.lifecycle.metrics import Metrics

from ..agent.fakes import FakeCluster
from ..agent.scenarios import redis_client_cluster
from ..agent.test_agent import FINDINGS, FINISH
from ..inference.test_client import FAST, USAGE, FakeSidecar, Fault, error
from .test_analysis import NOW, FakeWriter, no_sleep, posted_events, report_for, seed_policy

GENERATE, READY = "/v1/generate", "/readyz"


def generate(body: dict[str, Any]) -> dict[str, Any]:
    """The model's answer: finish at once, then the findings."""
    output = FINDINGS if body["grammar"]["name"] == "final" else FINISH
    return {"model": "fake", "output": output, "text": json.dumps(output), "usage": USAGE, "timings": {}}


def rank(body: dict[str, Any]) -> dict[str, Any]:
    ranked = [{"text": c, "tokens": 1, "logprob": -1.0, "mean_logprob": -1.0} for c in body["candidates"]]
    return {"model": "fake", "candidates": ranked, "best": 0, "best_total": 0, "usage": USAGE, "timings": {}}


def models(_body: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "gemma-3-270m-q4_k_m",
        "lock_entry": {"name": "gemma-3-270m-q4_k_m", "sha256": "b" * 64},
        "context_size": 4096,
        "n_gpu_layers": 0,
        "gpu_offload_supported": False,
        "threads": 1,
    }


@pytest.fixture
async def sidecar() -> AsyncIterator[FakeSidecar]:
    async with FakeSidecar({GENERATE: generate, "/v1/rank": rank, "/v1/models": models}) as fake:
        yield fake


class Bench:
    """The redis seed case's cluster and reports, analysed through `sidecar` one slot at a time."""

    def __init__(self, sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch, *, backoff: Backoff) -> None:
        objects, self.pod, logs = redis_client_cluster()
        self.events = posted_events(monkeypatch)
        self.writer = FakeWriter(self.pod)
        investigator = SidecarInvestigator(FakeCluster(objects, logs), sidecar.url, timeouts=FAST)
        self.analyst = Analyst(
            self.writer,  # type: ignore[arg-type]
            Metrics(),
            AnalysisSlots(1),
            investigator,
            lambda: NOW,
            backoff,
            seal_key=SealKey(b"k" * 32),
        )

    async def analyse(self, *names: str) -> None:
        """Open one report per name and analyse them all at once, in that order."""
        for name in names:
            self.writer.reports[name] = report_for(self.pod, name=name)
        reports = [await self.writer.read_report(self.pod["metadata"]["namespace"], name) for name in names]
        try:
            await asyncio.gather(*(self.analyst.run(report, seed_policy()) for report in reports))
        finally:
            await self.analyst.investigate.close()

    def conditions(self, name: str, type_: str) -> list[dict[str, Any]]:
        """The `type_` condition in each status write on report `name` that carried conditions, in order."""
        return [
            condition
            for written, patch in self.writer.writes
            if written == name
            for condition in patch.get("conditions", ())
            if condition["type"] == type_
        ]

    def first_write(self, name: str, type_: str, status: str) -> int:
        """Where in the order of all status writes report `name` first got condition `type_` = `status`."""
        return next(
            index
            for index, (written, patch) in enumerate(self.writer.writes)
            if written == name
            and any(c["type"] == type_ and c["status"] == status for c in patch.get("conditions", ()))
        )


def fault_cases() -> list[Any]:
    """(path, faults, condition reason, what its message says after "the sidecar at URL ")."""
    crash = web.Response(status=500, text="Internal Server Error: CUDA error: out of memory")
    busy = error(429, "the queue is full; retry in 1s", **{"Retry-After": "1"})
    return [
        pytest.param(
            GENERATE, ["hang"], "SidecarTimedOut", "did not answer POST /v1/generate within 0.5 s", id="hung"
        ),
        pytest.param(
            GENERATE,
            [crash],
            "SidecarError",
            "answered POST /v1/generate with HTTP 500: Internal Server Error: CUDA error: out of memory",
            id="500",
        ),
        pytest.param(GENERATE, [busy], "SidecarBusy", "answered POST /v1/generate with HTTP 429", id="429"),
        pytest.param(
            READY, ["hang"], "SidecarTimedOut", "did not answer GET /readyz within 0.3 s", id="hung-readiness"
        ),
    ]


@pytest.mark.parametrize(("path", "faults", "reason", "said"), fault_cases())
async def test_a_report_waits_pending_while_the_sidecar_fails_and_completes_once_it_recovers(
    sidecar: FakeSidecar,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    faults: list[Fault],
    reason: str,
    said: str,
) -> None:
    sidecar.fail(path, *faults)
    bench = Bench(sidecar, monkeypatch, backoff=Backoff(first=0.01, cap=0.05))
    await bench.analyse("checkout")

    status = bench.writer.report["status"]
    assert status["phase"] == "AwaitingApproval"
    assert status["findings"]["rootCause"] == "BadConfigValue"
    assert status["suggestedPatch"]["operations"][-1]["value"] == "redis-master"
    # Before the model is asked, the report does not flap through Analyzing.
    went_back = ["Analyzing", "Pending"] if path == GENERATE else ["Pending"]
    assert bench.writer.phases == [*went_back, "Analyzing", "AwaitingApproval"]
    assert bench.events == ["Analyzed"]  # no AnalysisError: nothing failed

    written = bench.conditions("checkout", "InferenceUnavailable")
    waiting, recovered = written[0], written[-1]
    assert (waiting["status"], waiting["reason"]) == ("True", reason)
    assert waiting["message"].startswith(f"the sidecar at {sidecar.url} {said}")
    assert "retrying in 0.01s" in waiting["message"]
    assert recovered["status"] == "False"


async def test_a_sidecar_that_stays_down_is_retried_with_growing_back_off(
    sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt gathers the evidence again before the model fails; that is no answer from the sidecar,
    so the back-off keeps growing until the sidecar does answer."""
    delays = no_sleep(monkeypatch)
    sidecar.fail(GENERATE, *(web.Response(status=500, text="boom") for _ in range(3)))
    bench = Bench(sidecar, monkeypatch, backoff=Backoff())
    await bench.analyse("checkout")
    assert delays == [2.0, 4.0, 8.0]
    assert bench.writer.phases == [*["Analyzing", "Pending"] * 3, "Analyzing", "AwaitingApproval"]
    waiting = [
        c["message"] for c in bench.conditions("checkout", "InferenceUnavailable") if c["status"] == "True"
    ]
    assert [re.findall(r"retrying in \w+s", message) for message in waiting] == [
        ["retrying in 2s"],
        ["retrying in 4s"],
        ["retrying in 8s"],
    ]


async def test_a_report_queued_behind_a_hung_analysis_says_so_then_completes(
    sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar.fail(GENERATE, "hang")
    bench = Bench(sidecar, monkeypatch, backoff=Backoff(first=0.01, cap=0.05))
    await bench.analyse("first", "second")

    assert {r["status"]["phase"] for r in bench.writer.reports.values()} == {"AwaitingApproval"}
    assert "Failed" not in bench.writer.phases
    # While the first analysis hung on the model, the second showed it was waiting for the slot it held.
    queued = bench.conditions("second", "Queued")
    assert (queued[0]["status"], queued[0]["reason"]) == ("True", "WaitingForSlot")
    assert "waiting for one of 2 analysis slots of policy seed or of the operator's 1" in queued[0]["message"]
    assert queued[-1]["status"] == "False"
    hung = bench.conditions("first", "InferenceUnavailable")[0]
    assert (hung["status"], hung["reason"]) == ("True", "SidecarTimedOut")
    assert bench.first_write("second", "Queued", "True") < bench.first_write(
        "first", "InferenceUnavailable", "True"
    )


async def test_an_answer_the_request_caused_ends_that_part_and_the_findings_still_come(
    sidecar: FakeSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4xx is the sidecar answering: waiting would not change it, so the report is concluded from the
    analyzers' facts instead of waiting for the sidecar."""
    sidecar.fail(
        GENERATE,
        error(400, "prompt longer than the context"),  # the step
        error(422, "truncated: max_tokens reached before the JSON closed"),  # the final answer
    )
    bench = Bench(sidecar, monkeypatch, backoff=Backoff())
    await bench.analyse("checkout")
    status = bench.writer.report["status"]
    assert bench.writer.phases == ["Analyzing", "AwaitingApproval"]
    assert status["findings"]["rootCause"] == "BadConfigValue"
    assert "redis-master" in status["findings"]["summary"]
    assert [step["index"] for step in status["reasoningChain"]] == [0]
    assert bench.conditions("checkout", "InferenceUnavailable")[-1]["status"] == "False"
