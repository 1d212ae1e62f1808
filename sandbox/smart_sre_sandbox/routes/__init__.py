"""The API server's HTTP routes, one module per concern; `server.py` assembles them into the app.

- resources.py: the verbs on objects (get, list, create, update, patch, delete, deletecollection);
- watch.py: watch streams; subresources.py: pods/log, */scale, pods/binding;
- discovery.py: discovery, OpenAPI, version and health; faults.py: fault injection for tests;
- authorization.py: authentication and RBAC in front of every request, and the access reviews;
- rest.py: what they share (targets, bodies, dryRun, fieldManager, Table rendering).
"""
