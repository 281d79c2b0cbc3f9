"""Settings: prefix, seed aliases, and errors that name the variable and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooltrail.consumers.settings import WorkerSettings
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import SettingsError, load_settings


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
        WorkerSettings,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password="pw",
    )
    kwargs = settings.kafka_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_password"] == "pw"
    assert "ssl_context" not in kwargs


def test_ssl_settings_become_a_verifying_context_with_the_client_certificate(
    tmp_path: Path,
) -> None:
    import shutil
    import ssl
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate")
    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=tooltrail-test",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    settings = load_settings(
        WorkerSettings,
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=cert,
        kafka_ssl_certfile=cert,
        kafka_ssl_keyfile=key,
    )
    context = settings.kafka_kwargs()["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    subjects = [c["subject"] for c in context.get_ca_certs()]
    assert subjects == [((("commonName", "tooltrail-test"),),)]
    wrong = load_settings(WorkerSettings, kafka_security_protocol="SSL", kafka_ssl_cafile=key)
    with pytest.raises(ssl.SSLError):  # a key is not a CA certificate
        wrong.kafka_kwargs()


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTRAIL_CHROMA_TOKEN", "")  # a Secret key left blank in a manifest
    monkeypatch.setenv("TOOLTRAIL_TOPIC_PARTITIONS", "")
    monkeypatch.setenv("TOOLTRAIL_KAFKA_SASL_PASSWORD", "")
    settings = load_settings(WorkerSettings)
    assert settings.chroma_token is None
    assert settings.kafka_sasl_password is None
    assert settings.topic_partitions == 6


def test_replicated_topics_refuse_single_copy_writes() -> None:
    from tooltrail.consumers.kafka.topics import pipeline_topics

    durable = pipeline_topics("e", "d", "x", 12, 3)
    assert [t.configs.get("min.insync.replicas") for t in durable] == ["2", "2", "2"]
    assert durable[2].configs["cleanup.policy"] == "compact"
    assert all("min.insync.replicas" not in t.configs for t in pipeline_topics("e", "d", "x", 6, 1))


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {"TOOLTRAIL_KAFKA_SASL_USERNAME": "svc", "TOOLTRAIL_KAFKA_SASL_PASSWORD": "pw-1"},
            "TOOLTRAIL_KAFKA_SASL_USERNAME, TOOLTRAIL_KAFKA_SASL_PASSWORD set, but "
            "TOOLTRAIL_KAFKA_SECURITY_PROTOCOL=PLAINTEXT",
        ),
        (
            {
                "TOOLTRAIL_KAFKA_SSL_PASSWORD": "pw-2",
                "TOOLTRAIL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "TOOLTRAIL_KAFKA_SASL_MECHANISM": "PLAIN",
                "TOOLTRAIL_KAFKA_SASL_USERNAME": "svc",
            },
            "TOOLTRAIL_KAFKA_SSL_PASSWORD set, but "
            "TOOLTRAIL_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
        ),
    ],
)
def test_credentials_with_a_plaintext_protocol_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings(WorkerSettings)
    assert names in str(info.value)
    assert "pw-1" not in str(info.value)
    assert "pw-2" not in str(info.value)


def test_a_chroma_token_over_http_needs_an_explicit_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOOLTRAIL_CHROMA_URL", "http://chroma.internal:8000")
    monkeypatch.setenv("TOOLTRAIL_CHROMA_TOKEN", "tok-secret-1")
    with pytest.raises(SettingsError, match="TOOLTRAIL_CHROMA_ALLOW_HTTP_TOKEN=true") as info:
        load_settings(WorkerSettings)
    assert "tok-secret-1" not in str(info.value)
    monkeypatch.setenv("TOOLTRAIL_CHROMA_ALLOW_HTTP_TOKEN", "true")
    assert load_settings(WorkerSettings).chroma_token_value() == "tok-secret-1"
    monkeypatch.setenv("TOOLTRAIL_CHROMA_ALLOW_HTTP_TOKEN", "false")
    monkeypatch.setenv("TOOLTRAIL_CHROMA_URL", "https://chroma.internal")
    assert load_settings(WorkerSettings).chroma_url == "https://chroma.internal"


def test_credentials_in_a_url_are_masked_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTRAIL_CHROMA_URL", "https://admin:s3cr3t-pw@chroma.internal/path")
    with pytest.raises(SettingsError) as info:
        load_settings(WorkerSettings)
    assert "s3cr3t" not in str(info.value)
    assert "https://***@chroma.internal/path" in str(info.value)


@pytest.mark.parametrize(
    "bad", ["nonsense", "host:notaport", "host:0", "host:70000", "a:1,,b:2", "host :9092", ""]
)
def test_bootstrap_must_be_host_port_pairs(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", bad)
    if bad == "":  # an empty variable means the default
        assert load_settings(WorkerSettings).kafka_bootstrap == "127.0.0.1:9092"
        return
    with pytest.raises(SettingsError, match=r"TOOLTRAIL_KAFKA_BOOTSTRAP = .*expected host:port"):
        load_settings(WorkerSettings)


def test_good_bootstraps_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", "k1.internal:9092, k2:9093,[::1]:9094")
    assert load_settings(WorkerSettings).kafka_bootstrap.startswith("k1")
