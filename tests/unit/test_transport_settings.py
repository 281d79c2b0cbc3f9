"""A password never crosses the network in clear text unless someone asked for exactly that."""

from __future__ import annotations

import pytest

from tooltrail.consumers.settings import WorkerSettings
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import SettingsError, load_settings

PLAIN_IN_CLEAR = {
    "TOOLTRAIL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "TOOLTRAIL_KAFKA_SASL_MECHANISM": "PLAIN",
    "TOOLTRAIL_KAFKA_SASL_USERNAME": "svc",
    "TOOLTRAIL_KAFKA_SASL_PASSWORD": "hunter2-secret",
}


@pytest.mark.parametrize("cls", [WorkerSettings, ProducerSettings])
def test_sasl_plain_over_plaintext_is_refused_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch, cls: type[WorkerSettings | ProducerSettings]
) -> None:
    for key, value in PLAIN_IN_CLEAR.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings(cls)
    message = str(info.value)
    for name in (
        "TOOLTRAIL_KAFKA_SASL_MECHANISM=PLAIN",
        "TOOLTRAIL_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
        "TOOLTRAIL_KAFKA_ALLOW_PLAINTEXT_PASSWORD=true",
        "SASL_SSL",
    ):
        assert name in message
    assert "hunter2" not in message


def test_sasl_plain_over_plaintext_goes_when_explicitly_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in PLAIN_IN_CLEAR.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TOOLTRAIL_KAFKA_ALLOW_PLAINTEXT_PASSWORD", "true")
    kwargs = load_settings(WorkerSettings).kafka_kwargs()
    assert (kwargs["security_protocol"], kwargs["sasl_mechanism"]) == ("SASL_PLAINTEXT", "PLAIN")
    assert kwargs["sasl_plain_password"] == "hunter2-secret"


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("SASL_PLAINTEXT", "SCRAM-SHA-256"), ("SASL_PLAINTEXT", "SCRAM-SHA-512")],
)
def test_a_challenge_response_mechanism_needs_no_permission(protocol: str, mechanism: str) -> None:
    settings = load_settings(
        WorkerSettings,
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="svc",
        kafka_sasl_password="pw",
    )
    assert settings.kafka_kwargs()["sasl_mechanism"] == mechanism
