"""kube-controller-manager's root-ca-cert-publisher: every namespace holds ConfigMap `kube-root-ca.crt`.

Pods mount it through the projected `kube-api-access-*` volume (service account token, CA, namespace)
that the ServiceAccount admission plugin adds to every pod whose token is automounted
(../service_accounts.py), or that a manifest spells out as the operator's do; without it the kubelet
reports FailedMount and the pod never starts. As on a cluster, the ConfigMap is
recreated when deleted and put back when edited.
"""

from __future__ import annotations

from ..errors import ApiError
from .controller import Controller

NAME = "kube-root-ca.crt"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


class RootCAPublisher(Controller):
    watches = ("namespaces", "configmaps")

    async def reconcile(self) -> float | None:
        data = {"ca.crt": self.cluster.root_ca}
        published = {
            cm["metadata"]["namespace"]: cm
            for cm in await self.cluster.list("configmaps")
            if cm["metadata"]["name"] == NAME
        }
        rt = self.cluster.rt("configmaps")
        for namespace in await self.cluster.list("namespaces"):
            name = namespace["metadata"]["name"]
            if namespace["metadata"].get("deletionTimestamp"):
                continue
            current = published.get(name)
            try:
                if current is None:
                    body = {
                        "metadata": {
                            "name": NAME,
                            "namespace": name,
                            "annotations": {"kubernetes.io/description": DESCRIPTION},
                        },
                        "data": data,
                    }
                    await self.cluster.store.create(rt, body)
                elif current.get("data") != data:
                    await self.cluster.store.update(rt, {**current, "data": data})
            except ApiError as error:  # the namespace went away or a user raced us: the next pass sees it
                if error.code not in (404, 403, 409):
                    raise
        return None
