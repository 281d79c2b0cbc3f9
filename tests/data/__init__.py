"""Test data: the redaction corpus (synthetic secrets only)."""
