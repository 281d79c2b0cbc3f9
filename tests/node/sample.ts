// Type-checked with `tsc --strict --noEmit` by tests/unit/test_schema_consumers.py.
import type { EnrichmentEntry, ToolExecutionEvent } from "../../schemas/tooltrail/schemas/typescript/tooltrail";

export const event: ToolExecutionEvent = {
  schemaVersion: 2,
  eventId: "01928f7c-0000-7000-8000-000000000001",
  toolId: "oc_read_get_pods",
  sessionId: "s-1",
  outcome: "tool_error",
  startedAt: "2026-11-24T10:00:00Z",
  endedAt: "2026-11-24T10:00:00.012Z",
  elapsedMs: 12,
  opType: "read",
  flags: { ENABLE_PRESEARCH: true },
  tags: { severity: "error" },
};

export const wrongNumber: ToolExecutionEvent = {
  ...event,
  // @ts-expect-error elapsedMs is a number, not a string
  elapsedMs: "12",
};

export const wrongOutcome: ToolExecutionEvent = {
  ...event,
  // @ts-expect-error outcome is one of four values
  outcome: "exploded",
};

// @ts-expect-error schemaVersion is required
export const noVersion: ToolExecutionEvent = { ...event, schemaVersion: undefined };

export const entry: EnrichmentEntry = {
  schemaVersion: 1,
  key: "oc_read_get_pods:0123456789abcdef",
  toolId: "oc_read_get_pods",
  computedAt: "2026-11-24T10:00:00.000Z",
  sourceEventId: "e-1",
  hits: [{ id: "m", summary: "x", distance: 0.1, kind: "failure", timestamp: "2026-11-24T10:00:00Z" }],
};
