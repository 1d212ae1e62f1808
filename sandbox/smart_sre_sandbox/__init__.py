"""The sandbox: an in-memory Kubernetes API server and cluster simulation that real clients talk to.

Where each concept lives, top to bottom (pyproject.toml's import-linter contract keeps the order):

- cli.py, cluster.py: ``smart-sre sandbox``, and `Sandbox`: the API server and the simulation over one Store.
- server.py: assembles the aiohttp application from the routes/ modules, which share routes/rest.py:
  routes/resources.py (the verbs), routes/watch.py, routes/subresources.py (log, scale, binding),
  routes/discovery.py (discovery, OpenAPI, health), routes/faults.py (fault injection),
  routes/authorization.py (who is asking and may they: authn.py's tokens, authz.py's RBAC, the access
  reviews); tls.py makes the certificate of the TLS port the users' kubeconfigs point at.
- sim/: the scheduler, kubelets and controllers (see sim/__init__.py); images/: the built-in images.
- store.py: `Store`, objects and resourceVersions; it calls admission.py (decode, merge, default,
  validate), service_accounts.py (the ServiceAccount plugin's token volume, on pods),
  admission_policies.py (ValidatingAdmissionPolicies, on API requests), watch.py (history
  and fan-out), served.py (built-in and CRD types), garbage.py and namespaces.py (the server's own
  controllers, which write back through registry.py's protocol).
- validation.py, rbac.py, names.py, defaults.py, schemas.py, crds.py, managed_fields.py, patching.py,
  selectors.py: the rules of a write; discovery.py, openapi.py, tables.py, protobuf.py: documents and encodings.
- logs.py (container logs: the kubelet writes, the log route reads), faults.py (armed faults).
- objects.py (copies and views), resources.py (ResourceType), errors.py (Status errors): used throughout.
"""
