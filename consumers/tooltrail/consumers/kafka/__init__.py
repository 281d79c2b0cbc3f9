"""Kafka plumbing of the workers: topics, dead letters, offsets and lag, reading a topic
apart from any group, and the Tansu compatibility patch."""
