"""The agent (`agent.investigate`) behind the operator's `Investigator` interface.

The analyst asks `ensure_ready` before each investigation: a sidecar that is down or still loading
its model must show on the report as `InferenceUnavailable` and be waited for, rather than let the
agent fall back to findings without the model.
"""

from __future__ import annotations

import aiohttp
from smart_sre_inference.client import InferenceClient
from smart_sre_inference.errors import NotReady, QueueFull

from .agent import investigate
from .analysis import AnalysisResult, StepCallback
from .api.common import Trigger
from .api.diagnosticreport import ReasoningStep
from .kube import ClusterReader
from .policies import ActivePolicy


class InferenceUnavailable(ConnectionError):
    """The sidecar does not answer, or answers that it is not ready."""


class AgentInvestigator:
    unavailable: tuple[type[BaseException], ...] = (
        InferenceUnavailable,
        aiohttp.ClientConnectionError,
        NotReady,
        QueueFull,
    )

    def __init__(self, cluster: ClusterReader, inference_url: str) -> None:
        self._cluster = cluster
        self._inference = InferenceClient(inference_url)

    async def ensure_ready(self) -> None:
        if not await self._inference.ready():
            raise InferenceUnavailable(f"the sidecar at {self._inference.base_url} is not ready")

    async def __call__(
        self, pod: dict, trigger: Trigger, policy: ActivePolicy, on_step: StepCallback
    ) -> AnalysisResult:

        def step(reasoning: ReasoningStep) -> None:
            on_step(reasoning.model_dump(mode="json", by_alias=True, exclude_none=True))

        diagnosis = await investigate(
            self._cluster, self._inference, pod, trigger, policy=policy.spec, on_step=step
        )
        status = diagnosis.status()
        return AnalysisResult(
            findings=status["findings"],
            reasoning_chain=status["reasoningChain"],
            suggested_patch=status.get("suggestedPatch"),
            rollback_patch=status.get("rollbackPatch"),
            no_patch_reason=status.get("noPatchReason"),
            model=status.get("model"),
            tokens=diagnosis.tokens,
            steps=max(0, len(diagnosis.reasoning_chain) - 1),
        )

    async def close(self) -> None:
        await self._inference.close()
