"""Settings: prefix, seed aliases, and errors that name the variable and what is allowed."""

from __future__ import annotations

import pytest

from consumers.settings import WorkerSettings
from producer.settings import ProducerSettings
from schemas import SettingsError, load_settings


def test_seed_flag_names_are_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_INSTRUMENTATION", "false")
    monkeypatch.setenv("INSTRUMENT_ALLOWLIST", "oc_read_get_pods, oc_read_logs")
    monkeypatch.setenv("UNIFIED_MEMORY", "0")
    monkeypatch.setenv("CHROMA_COLLECTION", "openshift_memory")
    monkeypatch.setenv("ENABLE_VECTOR_WRITES", "no")
    producer = load_settings(ProducerSettings)
    worker = load_settings(WorkerSettings)
    assert producer.enable_instrumentation is False
    assert producer.instrument_allowlist == ("oc_read_get_pods", "oc_read_logs")
    assert worker.unified_memory is False
    assert worker.chroma_collection == "openshift_memory"
    assert worker.enable_vector_writes is False


def test_prefixed_names_work_and_allowlist_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTRAIL_INSTRUMENT_ALLOWLIST", "a")
    monkeypatch.setenv("TOOLTRAIL_QUEUE_SIZE", "42")
    settings = load_settings(ProducerSettings)
    assert settings.queue_size == 42
    assert settings.instruments("a")
    assert not settings.instruments("b")
    assert not load_settings(ProducerSettings, enable_instrumentation=False).instruments("a")


def test_bad_values_name_each_variable_and_the_allowed_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOOLTRAIL_COMPRESSION", "brotli")
    monkeypatch.setenv("TOOLTRAIL_QUEUE_SIZE", "-5")
    monkeypatch.setenv("ENABLE_PRESEARCH", "maybe")
    with pytest.raises(SettingsError) as info:
        load_settings(ProducerSettings)
    text = str(info.value)
    assert "TOOLTRAIL_COMPRESSION = 'brotli'" in text
    assert "'none', 'gzip', 'snappy', 'lz4' or 'zstd'" in text
    assert "TOOLTRAIL_QUEUE_SIZE = '-5'" in text
    assert "greater than or equal to 1" in text
    assert "ENABLE_PRESEARCH = 'maybe'" in text
    assert len(info.value.problems) == 3


def test_secrets_are_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTRAIL_CHROMA_URL", "not a url")
    with pytest.raises(SettingsError) as info:
        load_settings(WorkerSettings, chroma_token=["hunter2-token"])
    assert "hunter2" not in str(info.value)
    assert "TOOLTRAIL_CHROMA_URL = 'not a url'" in str(info.value)


def test_cross_field_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="HEARTBEAT_INTERVAL_MS must be at most a third"):
        load_settings(WorkerSettings, session_timeout_ms=3000, heartbeat_interval_ms=1500)
    with pytest.raises(SettingsError, match="SASL_MECHANISM and TOOLTRAIL_KAFKA_SASL_USERNAME"):
        load_settings(WorkerSettings, kafka_security_protocol="SASL_SSL")
    with pytest.raises(SettingsError, match="OUTBOX_SEGMENT_BYTES must not exceed"):
        load_settings(ProducerSettings, outbox_segment_bytes=10_000, outbox_max_bytes=5_000)


def test_sasl_settings_become_client_arguments() -> None:
    settings = load_settings(
        WorkerSettings, kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="svc", kafka_sasl_password="pw",
    )  # fmt: skip
    kwargs = settings.kafka_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_password"] == "pw"
    assert "ssl_context" not in kwargs


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTRAIL_CHROMA_TOKEN", "")  # a Secret key left blank in a manifest
    monkeypatch.setenv("TOOLTRAIL_TOPIC_PARTITIONS", "")
    monkeypatch.setenv("TOOLTRAIL_KAFKA_SASL_PASSWORD", "")
    settings = load_settings(WorkerSettings)
    assert settings.chroma_token is None
    assert settings.kafka_sasl_password is None
    assert settings.topic_partitions == 6


def test_replicated_topics_refuse_single_copy_writes() -> None:
    from consumers.topics import pipeline_topics

    durable = pipeline_topics("e", "d", "x", 12, 3)
    assert [t.configs.get("min.insync.replicas") for t in durable] == ["2", "2", "2"]
    assert durable[2].configs["cleanup.policy"] == "compact"
    assert all("min.insync.replicas" not in t.configs for t in pipeline_topics("e", "d", "x", 6, 1))
