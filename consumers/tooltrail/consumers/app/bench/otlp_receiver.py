"""A loopback OTLP/gRPC trace receiver: the collector stand-in ``bench emit`` exports to.

Run in its own process (``python -m tooltrail.consumers.app.bench.otlp_receiver PORT``), as a
collector runs beside a tool server: what it costs to receive and decode spans is not the
tool server's. It answers every ``Export`` with success, counts the spans, and on SIGTERM
prints that count to stdout (the bench checks that the spans did arrive).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any


def serve(port: int) -> None:
    """Serve until SIGTERM, then print how many spans arrived."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received = [0]
    lock = threading.Lock()

    class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            with lock:
                received[0] += spans
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(0)
    sys.stdout.write(f"{received[0]}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
