"""What a worker shows: live group figures, Prometheus metrics, HTTP probes, the status topic."""
