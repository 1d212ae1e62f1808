"""Cluster I/O: the API client (`cluster`), the writer with its dry runs, owner chains, quantities.

The lowest layer above the typed API (`smart_sre.api`): it knows Kubernetes, not investigations or reports.
"""
