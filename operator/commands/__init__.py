"""Entry points: the `smart-sre` command, the `kubectl-sre` plugin and the Kopf handlers.

The top layer: it wires the lower ones together and nothing imports it.
"""
