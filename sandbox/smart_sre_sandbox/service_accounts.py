"""The ServiceAccount admission plugin's token mount, which the store applies to every pod it creates.

As kube-apiserver's plugin does: a pod whose token is automounted (its own automountServiceAccountToken,
else its ServiceAccount's, else true) gets the projected volume `kube-api-access-xxxxx` (a bound token,
the namespace's kube-root-ca.crt, the namespace's name), mounted read-only at
/var/run/secrets/kubernetes.io/serviceaccount in every container and init container that mounts nothing
there yet. With automount off nothing is added, so an in-cluster client finds no token file. The kubelet
(sim/files.py) fills the volume.

Unlike a cluster, the sandbox creates no `default` ServiceAccount and admits a pod whose ServiceAccount
does not exist (as if it did, with automount on) instead of refusing it.
"""

from __future__ import annotations

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_EXPIRATION_SECONDS = 3607  # the plugin's: an hour, and a little, so clients refresh before expiry


def automounts(pod: dict, account: dict | None) -> bool:
    """Whether the pod gets its token: its own setting wins over its ServiceAccount's; on by default."""
    own = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if own is not None:
        return bool(own)
    shared = (account or {}).get("automountServiceAccountToken")
    return True if shared is None else bool(shared)


def token_volume(name: str) -> dict:
    """The projected volume the plugin adds, as `kubectl get pod -o yaml` shows it."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def mount_token(pod: dict, account: dict | None, suffix: str) -> None:
    """Add the token volume (named with `suffix` unless the pod has one) and its mounts, when automounted."""
    spec = pod.get("spec")
    if not isinstance(spec, dict) or not automounts(pod, account):
        return
    volumes = spec.get("volumes") or []
    existing = next(
        (v.get("name") for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None
    )
    name = existing or VOLUME_PREFIX + suffix
    needed = False
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            mounts = container.setdefault("volumeMounts", [])
            if not any(mount.get("mountPath") == TOKEN_MOUNT_PATH for mount in mounts):
                mounts.append({"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})
                needed = True
    if needed and existing is None:
        spec["volumes"] = [*volumes, token_volume(name)]
