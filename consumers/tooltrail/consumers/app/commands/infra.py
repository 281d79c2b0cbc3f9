"""``tooltrail infra``: run the embedded broker and chroma server until interrupted."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.commands import add, port
from tooltrail.consumers.app.launcher import ChromaServer, EmbeddedBroker
from tooltrail.consumers.app.signing_key import data_dir_key


def run(data_dir: str, *, kafka_port: int | None, chroma_port: int | None) -> int:
    """Start both, print how to reach them, wait for Ctrl-C or SIGTERM, stop both."""
    root = Path(data_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with (
        EmbeddedBroker(root / "logs" / "tansu.log", kafka_port).start() as broker,
        ChromaServer(root / "chroma", root / "logs" / "chroma.log", chroma_port).start() as chroma,
    ):
        # once both run, Ctrl-C stops them through the event too (as SIGTERM does), not only
        # as a KeyboardInterrupt: infra once ignored a SIGINT in a full test run (cause not
        # found), and a SIGINT inherited as ignored would be ignored for good
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        for line in exports(broker.bootstrap, chroma.url, root):
            print(line)
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                if not (broker.running() and chroma.running()):
                    return 1
        except KeyboardInterrupt:
            pass
    return 0


def exports(bootstrap: str, url: str, root: Path) -> list[str]:
    """Shell lines that point ``tooltrail up`` and the operator commands at this broker and
    Chroma (paste them in another terminal; the ``#`` lines are comments there)."""
    metrics = shlex.quote(str((root / "metrics").absolute()))
    return [
        "# in another terminal: paste these, then 'tooltrail up --demo', then stats, dlq,",
        "# memory search, metrics export, replay memory (Ctrl-C here stops both)",
        f"export TOOLTRAIL_KAFKA_BOOTSTRAP={shlex.quote(bootstrap)}",
        f"export TOOLTRAIL_CHROMA_URL={shlex.quote(url)}",
        f"export TOOLTRAIL_METRICS_DIR={metrics}",
        "# the key the enrich group signs entries with and tool servers verify them with",
        f"export TOOLTRAIL_ENRICHMENT_KEY_FILE={shlex.quote(str(data_dir_key(root).absolute()))}",
    ]


def register(commands: Any) -> None:
    """``tooltrail infra``."""
    p = add(
        commands,
        "infra",
        "run the embedded Kafka broker and a chroma server",
        "Run the embedded Tansu broker and a 'chroma run' server on loopback until "
        "Ctrl-C; print the 'export TOOLTRAIL_…' lines that point 'tooltrail up' and the "
        "operator commands at them (their data outlives every 'up').",
    )
    p.add_argument("--data-dir", default="tooltrail-data", help="where chroma data and logs go")
    p.add_argument("--kafka-port", type=port, default=None, help="broker port (default: free)")
    p.add_argument("--chroma-port", type=port, default=None, help="chroma port (default: free)")
    p.set_defaults(
        handler=lambda a: run(a.data_dir, kafka_port=a.kafka_port, chroma_port=a.chroma_port)
    )
