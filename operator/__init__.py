"""smart-sre: an on-call SRE for Kubernetes, driven by a local, grammar-constrained model."""

__version__ = "0.1.0"
