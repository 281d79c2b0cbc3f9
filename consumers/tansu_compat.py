"""A compatibility patch for brokers whose first group generation is 0 (Tansu).

aiokafka 0.14 sends LeaveGroup only when ``generation > 0``; Tansu numbers the first
generation 0, so a clean stop in it left its partitions unowned until the session timed out.
The patched method sends LeaveGroup for any generation >= 0. It is harmless on real Kafka.
It replaces a private aiokafka method, hence the ``aiokafka>=0.14,<0.15`` pin.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import errors
from aiokafka.consumer import group_coordinator
from aiokafka.protocol.group import LeaveGroupRequest

log = logging.getLogger(__name__)
_applied = False


def patch_leave_group_generation_zero() -> None:
    """Install the patched ``_maybe_leave_group`` once per process."""
    global _applied
    if _applied:
        return

    async def _maybe_leave_group(self: Any) -> None:
        if self.generation >= 0 and self.member_id and self._group_instance_id is None:
            try:
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except errors.KafkaError as exc:
                log.warning("LeaveGroup request failed: %s", exc)
        self.reset_generation()

    group_coordinator.GroupCoordinator._maybe_leave_group = _maybe_leave_group
    _applied = True
