"""``tooltrail infra``: run the embedded broker and chroma server until interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.commands import add, port
from tooltrail.consumers.app.launcher import ChromaServer, EmbeddedBroker


def run(data_dir: str, *, kafka_port: int | None, chroma_port: int | None) -> int:
    """Start both, print how to reach them, wait for Ctrl-C or SIGTERM, stop both."""
    root = Path(data_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with (
        EmbeddedBroker(root / "logs" / "tansu.log", kafka_port).start() as broker,
        ChromaServer(root / "chroma", root / "logs" / "chroma.log", chroma_port).start() as chroma,
    ):
        print(f"TOOLTRAIL_KAFKA_BOOTSTRAP={broker.bootstrap}")
        print(f"TOOLTRAIL_CHROMA_URL={chroma.url}", flush=True)
        try:
            while not stop.wait(0.5):
                if not (broker.running() and chroma.running()):
                    return 1
        except KeyboardInterrupt:
            pass
    return 0


def register(commands: Any) -> None:
    """``tooltrail infra``."""
    p = add(
        commands,
        "infra",
        "run the embedded Kafka broker and a chroma server",
        "Run the embedded Tansu broker and a 'chroma run' server on loopback until "
        "Ctrl-C; print the TOOLTRAIL_* variables that point the rest at them.",
    )
    p.add_argument("--data-dir", default="tooltrail-data", help="where chroma data and logs go")
    p.add_argument("--kafka-port", type=port, default=None, help="broker port (default: free)")
    p.add_argument("--chroma-port", type=port, default=None, help="chroma port (default: free)")
    p.set_defaults(
        handler=lambda a: run(a.data_dir, kafka_port=a.kafka_port, chroma_port=a.chroma_port)
    )
