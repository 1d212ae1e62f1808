"""Scenario files as the eval reads them: the cluster documents plus the `kind: Scenario` description.

Convention: every failing workload carries the label `app: critical-app` (the seed article's policy),
so the eval's DebugPolicy selects exactly the failing workloads in the scenario's namespaces. An object
may appear more than once in a file: each later document is its next revision (a workload that ran
healthy, then a change), which stage.py applies once the revision before it has rolled out.

Sets: the files at the top of a scenario directory are the set `public`; each subdirectory is a set of
its own, named after it (`close-call/`, `unknown/`). `smart-sre eval` runs every set unless told which.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

import smart_sre_sandbox
from smart_sre.api.common import API_VERSION, RootCause, Trigger
from smart_sre_sandbox.cluster import SANDBOX_API_VERSION, read_documents

WATCH_LABEL = ("app", "critical-app")
DEFAULT_DIR = Path(smart_sre_sandbox.__file__).parent / "scenarios"
PUBLIC = "public"  # the set of the files at the top of a scenario directory
_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Pod"})


class _Spec(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Expected(_Spec):
    root_cause: RootCause
    trigger: Trigger = Field(description="the failure the workload shows (the report's trigger)")
    mentions: list[str] | None = Field(
        default=None,
        min_length=1,
        description="terms a correct explanation must contain (the field or object to change, not the "
        "log line); the eval's `culprit named` is true when the report's summary holds every one",
    )


class ScenarioSpec(_Spec):
    description: str = Field(min_length=1, max_length=300)
    expected: Expected


class Scenario(BaseModel):
    name: str
    path: Path
    set: str = PUBLIC
    spec: ScenarioSpec
    documents: list[dict]

    @property
    def namespaces(self) -> list[str]:
        """The namespaces of the watched (failing) workloads."""
        return sorted({d["metadata"].get("namespace", "default") for d in self.watched()})

    def watched(self) -> list[dict]:
        """The workloads the eval's policy selects, each as its last revision in the file: labelled
        app=critical-app on their pod template."""
        key, value = WATCH_LABEL
        latest = {identity(d): d for d in self.documents if d.get("kind") in _WORKLOAD_KINDS}
        found = []
        for document in latest.values():
            template = document if document["kind"] == "Pod" else document["spec"]["template"]
            if ((template.get("metadata") or {}).get("labels") or {}).get(key) == value:
                found.append(document)
        return found

    def revisions(self) -> list[list[dict]]:
        """The documents in the rounds the eval applies them: the first document of every object, then
        the second of those that have one, and so on (round N holds each object's revision N)."""
        rounds: list[list[dict]] = []
        seen: Counter[tuple[str, ...]] = Counter()
        for document in self.documents:
            number = seen[identity(document)]
            seen[identity(document)] += 1
            if number == len(rounds):
                rounds.append([])
            rounds[number].append(document)
        return rounds

    def policy(self, model: str | None = None) -> dict:
        """The DebugPolicy of this scenario's run: the watched workloads of the scenario's namespaces."""
        key, value = WATCH_LABEL
        rule = {"namespaces": self.namespaces, "selector": {"matchLabels": {key: value}}}
        return eval_policy(rule, model, also=[self.spec.expected.trigger])


def identity(document: dict) -> tuple[str, ...]:
    """What makes two documents of a file the same object: apiVersion group, kind, namespace, name."""
    meta = document.get("metadata") or {}
    group = document["apiVersion"].rpartition("/")[0]
    return (group, document["kind"], meta.get("namespace", ""), meta.get("name", ""))


# With no grace, NotReady would fire on every pod that is still starting (before it crash-loops, say):
# an eval run watches it only where the failure it expects is NotReady.
AT_ONCE = tuple(trigger for trigger in Trigger if trigger is not Trigger.NOT_READY)


def eval_policy(
    rule: dict, model: str | None = None, name: str = "eval", *, also: Sequence[Trigger] = ()
) -> dict:
    """An eval run's DebugPolicy: the pods of `rule`, every trigger a failure shows at once (and those
    of `also`), no grace, `model` when named."""
    spec: dict = {
        "rules": [rule],
        "triggers": [trigger.value for trigger in Trigger if trigger in AT_ONCE or trigger in also],
        "pendingGracePeriod": "1s",
    }
    if model:
        spec["model"] = model
    return {"apiVersion": API_VERSION, "kind": "DebugPolicy", "metadata": {"name": name}, "spec": spec}


class ScenarioError(ValueError):
    """A scenario file that the eval cannot use; the message names the file and what to fix."""


def load(path: Path, set_name: str = PUBLIC) -> Scenario:
    documents = read_documents(path)
    described = [d for d in documents if d["apiVersion"] == SANDBOX_API_VERSION and d["kind"] == "Scenario"]
    if len(described) != 1:
        raise ScenarioError(f"{path}: needs exactly one `kind: Scenario` document, found {len(described)}")
    try:
        spec = ScenarioSpec.model_validate(described[0].get("spec") or {})
    except ValueError as error:
        raise ScenarioError(f"{path}: the Scenario document is invalid: {error}") from error
    scenario = Scenario(
        name=described[0]["metadata"]["name"], path=path, set=set_name, spec=spec, documents=documents
    )
    if not scenario.watched():
        raise ScenarioError(f"{path}: no workload carries the label {'='.join(WATCH_LABEL)} for the policy")
    return scenario


def sets_of(directory: Path) -> dict[str, list[Path]]:
    """The scenario files of a directory by set: its own *.yaml are `public`, each subdirectory (not
    hidden, not `_private`) a set named after it; public first, then by name."""
    directory = Path(directory)
    found = {PUBLIC: sorted(directory.glob("*.yaml"))}
    for folder in sorted(p for p in directory.iterdir() if p.is_dir() and p.name[0] not in "._"):
        found[folder.name] = sorted(folder.glob("*.yaml"))
    return found


def load_sets(
    directory: Path, sets: list[str] | None = None, only: list[str] | None = None
) -> list[Scenario]:
    """The scenarios of the named sets (every set when None), each set in file order; `only` keeps the
    named scenarios (unknown names are an error). Names are unique across sets: `--only` finds one."""
    found = sets_of(directory)
    unknown_sets = sorted(set(sets or ()) - set(found))
    if unknown_sets:
        raise ScenarioError(
            f"unknown scenario set(s) {', '.join(unknown_sets)} in {directory}; known: {', '.join(found)}"
        )
    scenarios = [load(path, name) for name in found if sets is None or name in sets for path in found[name]]
    clashes = sorted(name for name, count in Counter(s.name for s in scenarios).items() if count > 1)
    if clashes:
        raise ScenarioError(
            f"scenario name(s) {', '.join(clashes)} appear in more than one file of {directory}"
        )
    if only:
        known = {s.name for s in scenarios}
        unknown = sorted(set(only) - known)
        if unknown:
            raise ScenarioError(
                f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        scenarios = [s for s in scenarios if s.name in only]
    return scenarios


def load_dir(directory: Path, only: list[str] | None = None) -> list[Scenario]:
    """The public scenarios of a directory (its own *.yaml files), by name; `only` as in `load_sets`."""
    return load_sets(directory, [PUBLIC], only)
