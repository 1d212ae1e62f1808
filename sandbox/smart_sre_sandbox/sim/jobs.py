"""The Job controller: runs pods until `completions` succeed, or gives up after `backoffLimit` failures."""

from __future__ import annotations

from .controller import Controller
from .workloads import active, by_controller, pod_from_template, ready_count

COMPONENT = "job-controller"


def _finished(job: dict) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)


class JobController(Controller):
    watches = ("jobs", "pods")

    async def reconcile(self) -> float | None:
        pods = by_controller(await self.cluster.list("pods"))
        for job in await self.cluster.list("jobs"):
            if not job["metadata"].get("deletionTimestamp") and not _finished(job):
                await self._sync(job, pods.get(job["metadata"]["uid"], []))
        return None

    async def _sync(self, job: dict, owned: list[dict]) -> None:
        spec, now = job["spec"], self.cluster.clock.timestamp()
        running = active(owned)
        phases = [(p.get("status") or {}).get("phase") for p in owned]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        completions, parallelism = int(spec.get("completions", 1)), int(spec.get("parallelism", 1))
        status: dict = {
            "startTime": (job.get("status") or {}).get("startTime") or now,
            "active": len(running),
            "succeeded": succeeded,
            "failed": failed,
            "ready": ready_count(running),
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
        if succeeded >= completions:
            status["completionTime"] = now
            status["conditions"] = [
                _condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                ),
                _condition(
                    "Complete", "CompletionsReached", "Reached expected number of succeeded pods", now
                ),
            ]
            await self.cluster.events.record(job, "Normal", "Completed", "Job completed", component=COMPONENT)
        elif failed > int(spec.get("backoffLimit", 6)):
            message = "Job has reached the specified backoff limit"
            status["conditions"] = [
                _condition("FailureTarget", "BackoffLimitExceeded", message, now),
                _condition("Failed", "BackoffLimitExceeded", message, now),
            ]
            for pod in running:
                await self.cluster.delete("pods", pod)
            status["active"] = 0
            await self.cluster.events.record(
                job, "Warning", "BackoffLimitExceeded", message, component=COMPONENT
            )
        elif not spec.get("suspend"):
            for _ in range(min(parallelism, completions - succeeded) - len(running)):
                pod = pod_from_template(job, spec["template"], generate_name=f"{job['metadata']['name']}-")
                await self.cluster.create_pod(job, pod, COMPONENT)
                status["active"] += 1
        await self.cluster.sync_status("jobs", job, status)


def _condition(type_: str, reason: str, message: str, now: str) -> dict:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }
