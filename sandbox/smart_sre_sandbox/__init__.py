"""The sandbox: an in-memory Kubernetes API server and cluster simulation that real clients talk to."""
