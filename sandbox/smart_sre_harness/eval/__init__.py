"""`smart-sre eval`: how often smart-sre finds the root cause and how often its patch really fixes the pod.

Each scenario (sandbox/scenarios/*.yaml) runs on a fresh sandbox: the failing workload, a DebugPolicy
selecting it, the operator and the model; the suggested patch is approved as a human would, and the
sandbox alone decides whether the pod recovered.
"""
