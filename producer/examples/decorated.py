"""Any function or block recorded as a tool call, without an MCP SDK.

``python producer/examples/decorated.py`` with ``TOOLTRAIL_KAFKA_BOOTSTRAP`` set; a worker
(``tooltrail worker all``) turns the three events into metrics and memories.
"""

from __future__ import annotations

import asyncio

from tooltrail.producer import TrailProducer, instrument, record_call

trail = TrailProducer(server_name="oc-scripts")  # settings from TOOLTRAIL_*


@instrument(trail)  # the event's tool is the function's name
def oc_read_get_pods(namespace: str) -> str:
    return f"web-1   1/1   Running   ({namespace})"


@instrument(trail, "oc_read_logs")  # async functions too; arguments are redacted by name
async def fetch_logs(namespace: str, pod: str, token: str) -> str:
    await asyncio.sleep(0)
    return f"{pod}: connection refused by db:5432"


def main() -> None:
    trail.start()
    try:
        oc_read_get_pods("payments")
        asyncio.run(fetch_logs("payments", "web-1", token="s3cr3t-t0ken-value"))
        with record_call(trail, "oc_read_get_events", {"namespace": "payments"}) as call:
            call.result = "Warning BackOff pod/web-1 Back-off restarting failed container"
    finally:
        trail.close(timeout=5)  # sends what is left; the rest stays in the outbox


if __name__ == "__main__":
    main()
