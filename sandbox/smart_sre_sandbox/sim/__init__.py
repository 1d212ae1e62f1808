"""The cluster simulation: what kube-scheduler, the kubelets and kube-controller-manager would do, working on
the Store in-process (no HTTP), on a compressible clock.

Where each concept lives:

- simulation.py: starts and stops every controller below; registers the nodes.
- controller.py: the level-triggered reconcile loop they share, and `Cluster` (Store, logs, clock, images).
- clock.py: simulated time (`time_scale` times faster than real); timestamps stay wall-clock.
- nodes.py: Node objects (default three workers, or a scenario's SandboxNodes).
- scheduling.py (pure) + scheduler.py: node filters (node ports too), FailedScheduling wording, binding.
- kubelet.py + containers.py: running pods' containers, restarts, status, kubelet events. Init containers
  run one at a time (Init:N/M, then PodInitializing), sidecars (restartPolicy Always) beside the app.
- backoff.py: CrashLoopBackOff (10 s doubling to 5 min, reset after 10 min running) and image pull back-off.
- images.py: the image catalogue (built-in images: ../images/builtin.yaml) and what each image's program
  does; applogs.py: how programs word logs.
- shell.py: what a container's command runs (a small POSIX shell, tools, interpreters; never real code);
  files.py: the container's files (image files, ConfigMap/Secret/emptyDir volumes, read-only root, a
  non-root user's permissions).
- envvars.py: container environments, CreateContainerConfigError (runAsNonRoot too).
- probes.py: readiness/liveness/startup on their schedule (a startup probe gates the others; an image's
  startSeconds delays serving).
- network.py: Service DNS (the pod's resolver from dnsPolicy), ClusterIPs and endpoints as a container
  dials them.
- events.py: the event recorder (aggregated counts).
- workloads.py (shared: template hashes, adoption) + deployments.py, replicasets.py, statefulsets.py, daemonsets.py,
  jobs.py; revisions.py: the ControllerRevision history StatefulSets and DaemonSets keep.
- rootca.py: the kube-root-ca.crt ConfigMap in every namespace (pods' kube-api-access volumes mount it;
  ../service_accounts.py adds that volume to the pods whose token is automounted).
- endpoints.py: Endpoints from Service selectors; volumes.py: PVC binding and provisioning.
- labels.py, podresources.py: node selector terms and pod resource requests.
"""
