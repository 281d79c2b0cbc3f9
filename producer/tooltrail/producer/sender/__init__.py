"""The sender: one daemon thread, one asyncio loop; it only moves finished bytes.

Records arrive built (``emit`` builds each on the thread that made the call). The sender owns
every step past the ``Accumulator``: the Kafka producer, the on-disk outbox (its only writer),
resending it, confirming acknowledgements, and, when pre-search is on, following the
enrichment topic. Each of those runs as a supervised task of the one loop: a task that
crashes is logged, counted (``restarts``) and started again. It wakes rarely: a record put
into a sleeping sender wakes it, and it then waits ``TOOLTRAIL_LINGER_MS`` before taking
what has gathered, so its work lands after the call's response, once per batch; while calls
flow it takes them every ``TOOLTRAIL_LINGER_MS``, or as soon as ``TOOLTRAIL_BATCH_SIZE`` are
waiting. Each time it takes the GIL back from a busy tool server costs both threads (a thread
waiting for the GIL is woken at every release and usually loses the race, and each wake
restarts its switch interval), so a take goes out as one record batch per partition, one
request. Work on a resend batch (outbox records, parsed for their headers) is paced
(``Pacer``): after each ``TOOLTRAIL_SENDER_SLICE_US`` of it the thread sleeps
``TOOLTRAIL_SENDER_PAUSE_US`` so that a busy tool-server thread is not kept waiting for the
GIL; live batches of finished records are short and not paced.

**Where an event is at any time, and for how long.**

* In the accumulator until the next drain (``TOOLTRAIL_LINGER_MS`` after the first record, or
  sooner when a full batch is waiting).
* Sent to Kafka (a *flight*) if Kafka is live and fewer than ``TOOLTRAIL_MAX_IN_FLIGHT``
  events are unacknowledged; else written to the outbox at once. A flight not acknowledged
  within ``TOOLTRAIL_SEND_TIMEOUT_S`` goes to the outbox and Kafka counts as down: no event
  waits in memory longer than that, so a process killed during a stall loses at most what
  it received in the last ``TOOLTRAIL_SEND_TIMEOUT_S``. While Kafka is down the outbox takes
  every batch at once.
* Acknowledged, but not yet counted ``sent``: the broker may have acknowledged it on a topic
  that no longer exists (a broker restarted without storage does that). Every
  ``TOOLTRAIL_ACK_CONFIRM_INTERVAL_MS`` the sender asks for the topic's id (Kafka metadata
  v10+): acknowledgements received before the request on the same topic id are counted
  ``sent``; if the topic is gone or has a new id they go back to the outbox.
* In the outbox until resent. The outbox drains while new calls flow: one resend batch at a
  time beside the live flights (so after an outage, newer events may reach Kafka before
  older ones; each event carries ``startedAt`` and ``producerSeq``, and no consumer relies on
  order). A send that timed out can still be delivered later; before resending, the sender
  waits for such late answers (up to ``TOOLTRAIL_REQUEST_TIMEOUT_MS``) and skips what they
  delivered (``late_acks``), so no duplicate is written in that case. A request that failed
  without telling whether the broker wrote it (timed out, connection lost) is resent, and
  counted ``maybe_duplicated``: without idempotence (Tansu cannot do it) the topic may hold
  two copies, which the sinks deduplicate by event id.

**Its parts**, each built on the one before it (a part only calls parts below it):

* ``handover``, ``pacing`` and ``clock``: pure timing: the loop's selector that takes the GIL
  back promptly after a wait (a short switch interval while it waits), the resend's pace, and
  the flights' clock that does not count time the loop could not run (another thread held the
  GIL).
* ``state``: what every part shares (settings, counters, the events that wake tasks);
  each part below sets its own fields, and can touch only those of the parts below it.
* ``spill``: the outbox side: append, fsync, count what it refuses, warn about drops.
* ``link``: the Kafka client: connect, reconnect, confirm acknowledgements on the topic id.
* ``flights``: in-flight batches: send, acknowledge, late answers, failed ones to the outbox.
* ``resend``: the outbox drains beside live traffic, one paced batch at a time.
* ``pump``: the thread body: accumulator -> flights or outbox; stop within its deadline.
"""

from tooltrail.producer.sender.flights import RECORD_OVERHEAD
from tooltrail.producer.sender.pacing import Pacer
from tooltrail.producer.sender.pump import Sender
from tooltrail.producer.sender.state import Position

__all__ = ["RECORD_OVERHEAD", "Pacer", "Position", "Sender"]
