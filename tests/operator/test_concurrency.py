import asyncio

from smart_sre.lifecycle.concurrency import AnalysisSlots


async def test_global_and_per_policy_limits_bound_running_analyses():
    slots = AnalysisSlots(global_limit=3)
    peak = {"a": 0, "all": 0}
    running = {"a": 0, "all": 0}
    queued_reports = []

    async def analysis(policy: str, limit: int, name: str) -> None:
        async def on_queued() -> None:
            queued_reports.append(name)

        async with slots.slot(policy, limit, on_queued=on_queued):
            running["all"] += 1
            running[policy] = running.get(policy, 0) + 1
            peak["all"] = max(peak["all"], running["all"])
            peak[policy] = max(peak.get(policy, 0), running[policy])
            await asyncio.sleep(0.01)
            running["all"] -= 1
            running[policy] -= 1

    jobs = [analysis("a", 1, f"a{i}") for i in range(4)] + [analysis("b", 5, f"b{i}") for i in range(6)]
    await asyncio.gather(*jobs)
    assert peak["a"] == 1
    assert peak["all"] == 3
    assert len(queued_reports) >= 6  # everything past the first slots waited, and said so
    assert slots.queued == 0
    assert slots.running == 0


async def test_cancelled_while_queued_leaves_no_phantom_queue_entry():
    slots = AnalysisSlots(global_limit=1)
    release = asyncio.Event()

    async def holder() -> None:
        async with slots.slot("p", 1):
            await release.wait()

    async def waiter() -> None:
        async with slots.slot("p", 1):
            pass

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert slots.queued == 1
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    assert slots.queued == 0
    release.set()
    await first
    assert slots.running == 0
