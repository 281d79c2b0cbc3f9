"""Kafka plumbing shared by the producer and the workers: wire-level metadata requests."""
