"""The investigation of one failing pod: evidence, analyzers, read-only tools, the model, patch safety.

Reads the cluster, never writes it. Imports only `smart_sre.api` and `smart_sre.k8s` from the product;
the report lifecycle reaches it through `smart_sre.lifecycle.analysis`.
"""
