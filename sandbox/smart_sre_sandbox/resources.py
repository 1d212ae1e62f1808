"""The resource types the sandbox serves: built-in kinds here, custom resources from CRDs (crds.py)."""

from __future__ import annotations

from dataclasses import dataclass

# What discovery lists for an ordinary resource; reviews (SubjectAccessReview, ...) are create-only.
VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/resource, with the names kubectl resolves it by."""

    group: str  # "" for core
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # e.g. ("status",), ("status", "log") for pods
    verbs: tuple[str, ...] = VERBS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage identity: one bucket per group and plural, whatever version it is read through."""
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def names(self) -> tuple[str, ...]:
        """Every name ``Store.resource`` accepts for this type (lower case)."""
        singular = self.singular or self.kind.lower()
        return (self.plural, singular, self.kind.lower(), *self.short_names)

    def matches(self, name: str) -> bool:
        lowered = name.lower()
        return lowered in self.names or lowered == f"{self.plural}.{self.group}".lower()


def _rt(
    group: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    version: str = "v1",
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    subresources: tuple[str, ...] = (),
    verbs: tuple[str, ...] = VERBS,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short,
        categories=categories,
        subresources=subresources,
        verbs=verbs,
    )


ALL = ("all",)

# The order is discovery order: kubectl resolves an ambiguous name ("events") to the first match.
BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _rt("", "Namespace", "namespaces", namespaced=False, short=("ns",), subresources=("status",)),
    _rt("", "Node", "nodes", namespaced=False, short=("no",), subresources=("status",)),
    _rt("", "Pod", "pods", short=("po",), categories=ALL, subresources=("status", "log", "binding")),
    _rt("", "Event", "events", short=("ev",)),
    _rt("", "Service", "services", short=("svc",), categories=ALL, subresources=("status",)),
    _rt("", "Endpoints", "endpoints", short=("ep",)),
    _rt("", "ConfigMap", "configmaps", short=("cm",)),
    _rt("", "Secret", "secrets"),
    _rt("", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _rt("", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), subresources=("status",)),
    _rt(
        "", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",), subresources=("status",)
    ),
    _rt("", "LimitRange", "limitranges", short=("limits",)),
    _rt("", "ResourceQuota", "resourcequotas", short=("quota",), subresources=("status",)),
    _rt(
        "apps",
        "Deployment",
        "deployments",
        short=("deploy",),
        categories=ALL,
        subresources=("status", "scale"),
    ),
    _rt("apps", "ReplicaSet", "replicasets", short=("rs",), categories=ALL, subresources=("status", "scale")),
    _rt(
        "apps",
        "StatefulSet",
        "statefulsets",
        short=("sts",),
        categories=ALL,
        subresources=("status", "scale"),
    ),
    _rt("apps", "DaemonSet", "daemonsets", short=("ds",), categories=ALL, subresources=("status",)),
    _rt("apps", "ControllerRevision", "controllerrevisions"),  # StatefulSet and DaemonSet history
    _rt("batch", "Job", "jobs", categories=ALL, subresources=("status",)),
    _rt("batch", "CronJob", "cronjobs", short=("cj",), categories=ALL, subresources=("status",)),
    _rt("policy", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), subresources=("status",)),
    _rt("coordination.k8s.io", "Lease", "leases"),
    _rt("networking.k8s.io", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _rt("rbac.authorization.k8s.io", "Role", "roles"),
    _rt("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", namespaced=False),
    _rt("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _rt(
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        namespaced=False,
        subresources=("status",),
    ),
    _rt(
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        namespaced=False,
    ),
    _rt(
        "authentication.k8s.io",
        "SelfSubjectReview",
        "selfsubjectreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _rt(
        "authorization.k8s.io",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _rt(
        "authorization.k8s.io",
        "SubjectAccessReview",
        "subjectaccessreviews",
        namespaced=False,
        verbs=("create",),
    ),
    _rt("storage.k8s.io", "StorageClass", "storageclasses", namespaced=False, short=("sc",)),
    _rt("discovery.k8s.io", "EndpointSlice", "endpointslices"),
    _rt(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        short=("crd", "crds"),
        subresources=("status",),
    ),
)

# Namespaces every cluster starts with.
INITIAL_NAMESPACES: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease")
