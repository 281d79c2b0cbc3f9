"""The application layer's settings: every TOOLTRAIL_ variable the CLI reads goes through one."""

from __future__ import annotations

import pytest

from tooltrail.consumers.app import cli
from tooltrail.consumers.app.app_settings import AppSettings, app_settings, explicitly_set
from tooltrail.consumers.app.demo import tools
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.config import load_settings
from tooltrail.schemas.errors import SettingsError


@pytest.mark.parametrize(("raw", "level"), [(" debug ", "DEBUG"), ("Warning", "WARNING")])
def test_the_log_level_is_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch, raw: str, level: str
) -> None:
    monkeypatch.setenv("TOOLTRAIL_LOG_LEVEL", raw)
    assert app_settings().log_level == level


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("TOOLTRAIL_LOG_LEVEL", "loud"),
        ("TOOLTRAIL_DEMO_LATENCY_SCALE", "-1"),
        ("TOOLTRAIL_DEMO_LATENCY_SCALE", "fast"),
        ("TOOLTRAIL_UP_STATUS_INTERVAL_S", "0"),
        ("TOOLTRAIL_UP_STATUS_INTERVAL_S", "soon"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as caught:
        app_settings()
    assert var in str(caught.value.problems)


def test_a_bad_log_level_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOOLTRAIL_LOG_LEVEL", "loud")
    assert cli.main(["settings", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "TOOLTRAIL_LOG_LEVEL" in err[0]
    assert "'WARNING'" in err[0]


def test_the_log_level_flag_wins_over_a_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLTRAIL_LOG_LEVEL", "loud")
    assert cli._log_level("ERROR") == "ERROR"


def test_a_kafka_failure_names_the_configured_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokafka.errors import KafkaConnectionError

    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", "kafka.example:9093")
    code, line = cli.failure(KafkaConnectionError("no route"))
    assert code == 1
    assert "kafka.example:9093" in line


def test_explicitly_set_tells_a_configured_value_from_a_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOOLTRAIL_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("TOOLTRAIL_CHROMA_URL", raising=False)
    assert not explicitly_set(load_settings(WorkerSettings), "kafka_bootstrap")
    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")  # the default, but set
    assert explicitly_set(load_settings(WorkerSettings), "kafka_bootstrap")
    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", "")  # empty counts as unset
    assert not explicitly_set(load_settings(WorkerSettings), "kafka_bootstrap")


def test_the_demo_latency_scale_is_read_once_and_can_be_overridden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOOLTRAIL_DEMO_LATENCY_SCALE", "2.5")
    tools.set_latency_scale(None)
    try:
        assert tools._scale() == 2.5
        monkeypatch.setenv("TOOLTRAIL_DEMO_LATENCY_SCALE", "7")
        assert tools._scale() == 2.5  # read once per process
        tools.set_latency_scale(0)
        assert tools._scale() == 0
    finally:
        tools.set_latency_scale(None)


def test_every_app_setting_is_in_the_settings_table() -> None:
    from tooltrail.consumers.app.commands.settings import markdown_table

    table = markdown_table()
    for field in AppSettings.model_fields:
        assert f"`TOOLTRAIL_{field.upper()}`" in table
