"""``tooltrail_lag`` is true: after a restart, across members, and while writes keep failing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.kafka_helpers import wait_for
from tests.processes import ROOT, Worker, worker, worker_env
from tests.reliability.test_outages import metric_ids, produce

pytestmark = pytest.mark.reliability


def lag_series(w: Worker, group: str) -> dict[int, float]:
    """``{partition: lag}`` as one worker reports it."""
    out = {}
    for line in w.get("/metrics")[1].splitlines():
        if line.startswith(f'tooltrail_lag{{group="{group}",partition="'):
            head, _, value = line.rpartition(" ")
            out[int(head.split('partition="')[1].split('"')[0])] = float(value)
    return out


def group_lag(env: dict[str, str], group: str) -> int:
    argv = [sys.executable, "-m", "tooltrail.consumers.app.cli", "stats", "--json"]
    out = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return int(orjson.loads(out.stdout)["groups"][group]["lag"])


@pytest.mark.timeout(300)
async def test_lag_is_per_owned_partition_and_sums_to_the_groups_lag(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    env = worker_env(kafka.bootstrap, names, tmp_path, TOOLTRAIL_KAFKA_TIMEOUT_S="3")
    group = env["TOOLTRAIL_METRICS_GROUP"]
    with worker("metrics", env, tmp_path / "a.log") as a:
        await wait_for(lambda: a.get("/readyz")[0] == 200, 30, "worker a ready")
        ids = await produce(kafka.bootstrap, names.events, 120)
        await wait_for(lambda: len(metric_ids(tmp_path)) == 120, 30, "120 records")
        await wait_for(lambda: sum(lag_series(a, group).values()) == 0, 30, "lag 0 in a")
        assert a.stop()[0] == 0
    with (
        worker("metrics", env, tmp_path / "b.log") as b,
        worker("metrics", env, tmp_path / "c.log") as c,
    ):
        await wait_for(
            lambda: b.get("/readyz")[0] == 200 and c.get("/readyz")[0] == 200, 60, "b and c ready"
        )
        await wait_for(
            lambda: len(lag_series(b, group)) + len(lag_series(c, group)) == 3,
            60,
            "every partition owned once",
        )
        assert not set(lag_series(b, group)) & set(lag_series(c, group))  # only owned ones
        assert sum(lag_series(b, group).values()) + sum(lag_series(c, group).values()) == 0
        metrics = tmp_path / "metrics"
        shutil.rmtree(metrics)
        metrics.write_text("a file where the directory was: every write now fails")
        more = await produce(kafka.bootstrap, names.events, 90)
        reported = lambda: sum(lag_series(b, group).values()) + sum(lag_series(c, group).values())  # noqa: E731
        await wait_for(lambda: reported() == 90, 30, "the reported lag to reach 90")
        assert group_lag(env, group) == 90  # what the broker says
        metrics.unlink()
        await wait_for(lambda: reported() == 0, 60, "the backlog to be written")
    assert metric_ids(tmp_path) == dict.fromkeys(more, 1)  # the directory was recreated
    assert len(ids) == 120
