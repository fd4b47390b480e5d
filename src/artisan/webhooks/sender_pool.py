"""Who drives the engine: one batch at a time, or a draining pool of senders.

`deliver_batch` claims, sends and records one batch; `drain` keeps a fixed pool of sender
coroutines busy from a local queue that one claimer tops up, while one recorder writes outcomes
back in bulk beside them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

from artisan.webhooks.attempts import Claimed, Outcome
from artisan.webhooks.engine import DeliveryEngine

# A draining sender keeps about this much work claimed ahead of its senders: well inside the
# lease's margin, so claimed deliveries start long before their lease runs short.
QUEUED_SECONDS = 1.0
# A draining sender writes outcomes back once half a batch has accumulated or this much time has
# passed, whichever comes first.
RECORD_INTERVAL_SECONDS = 0.05


async def deliver_batch(engine: DeliveryEngine, ids: Sequence[uuid.UUID] | None = None) -> int:
    """Claim one batch (of `ids`, or of anything due), send it concurrently, record it."""
    claimed = await engine.claim(ids)
    if not claimed:
        return 0
    outcomes = await asyncio.gather(*(engine.send_in_time(item) for item in claimed))
    await engine.record(outcomes)
    return len(claimed)


class _SendRate:
    """Deliveries finished per second, measured over the last second or so."""

    WINDOW_SECONDS = 1.0

    def __init__(self) -> None:
        self.finished = 0
        self._mark = (time.monotonic(), 0)
        self.per_second: float | None = None

    def update(self) -> float | None:
        """Refresh the measured rate (None until a first window has passed)."""
        now = time.monotonic()
        since, count = self._mark
        if now - since >= self.WINDOW_SECONDS:
            self.per_second = (self.finished - count) / (now - since)
            self._mark = (now, self.finished)
        return self.per_second


async def drain(engine: DeliveryEngine, *, budget_seconds: float = 30.0) -> int:
    """Deliver whatever is due for at most `budget_seconds` (then finish what was claimed).

    A fixed pool of WEBHOOK_CONCURRENCY sender coroutines takes claimed deliveries from a local
    queue that one claimer keeps topped up, and one recorder writes outcomes back in bulk once
    half a batch has accumulated or RECORD_INTERVAL_SECONDS have passed, so the HTTP window stays
    full while the database work happens beside it. The queue holds about QUEUED_SECONDS of work at
    the measured send rate (at most a batch), so slow receivers do not leave claimed deliveries
    waiting until their lease runs short; one that did wait that long is handed back unsent.
    """
    concurrency = engine.settings.webhook_concurrency
    batch_size = engine.settings.webhook_batch_size
    deadline = time.monotonic() + budget_seconds
    waiting: asyncio.Queue[Claimed | None] = asyncio.Queue()
    outcomes: list[Outcome] = []
    in_flight = 0  # taken by a sender and not yet recorded
    claimed_total = 0
    low_water = max(1, batch_size // 2)
    record_at = max(1, batch_size // 2)
    rate = _SendRate()
    wanted = asyncio.Event()  # the queue fell below half its target
    to_record = asyncio.Event()
    recorded = asyncio.Event()

    def target() -> int:
        measured = rate.update()
        if measured is None:
            return batch_size
        return max(concurrency, min(batch_size, int(measured * QUEUED_SECONDS)))

    async def claimer() -> None:
        nonlocal claimed_total, low_water
        try:
            while time.monotonic() < deadline:
                goal = target()
                # At least one: with a target of one, claim again once the queue is empty.
                low_water = max(1, goal // 2)
                if waiting.qsize() >= low_water:
                    wanted.clear()
                    await wanted.wait()
                    continue
                recorded.clear()
                # Decided before claiming: a write that ends during the claim may free work the
                # claim's snapshot did not see.
                settled = waiting.empty() and not in_flight
                claimed = await engine.claim(limit=goal - waiting.qsize())
                if claimed:
                    claimed_total += len(claimed)
                    for item in claimed:
                        waiting.put_nowait(item)
                elif settled:
                    return
                else:
                    # What is left may be waiting behind a delivery in flight (ordered
                    # endpoints): look again once something has been recorded.
                    await recorded.wait()
        finally:
            for _ in range(concurrency):
                waiting.put_nowait(None)

    async def sender() -> None:
        nonlocal in_flight
        while True:
            # Taken without a wait while the queue holds work (nearly always, under load).
            item = waiting.get_nowait() if waiting.qsize() else await waiting.get()
            if item is None:
                return
            in_flight += 1
            if waiting.qsize() < low_water:
                wanted.set()
            try:
                # send_in_time's decision, without its extra coroutine per request.
                if item.out_of_time():
                    outcome = Outcome(item=item, released=True)
                else:
                    outcome = await engine.send(item)
            except BaseException:
                in_flight -= 1
                raise
            rate.finished += 1
            outcomes.append(outcome)
            if len(outcomes) >= record_at:
                to_record.set()

    async def recorder() -> None:
        nonlocal in_flight
        while outcomes or not senders.done():
            if len(outcomes) < record_at and not senders.done():
                # Outcomes are written in batches: every write costs a transaction and a few
                # round trips whatever its size.
                to_record.clear()
                woken = asyncio.ensure_future(to_record.wait())
                await asyncio.wait(
                    (senders, woken),
                    timeout=RECORD_INTERVAL_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                woken.cancel()
            if not outcomes:
                continue
            # Taken out in place: a sender appends to this same list.
            batch = outcomes.copy()
            outcomes.clear()
            try:
                await engine.record(batch)
            finally:
                in_flight -= len(batch)
                recorded.set()

    claiming = asyncio.ensure_future(claimer())
    senders = asyncio.gather(*(sender() for _ in range(concurrency)))
    recording = asyncio.ensure_future(recorder())
    try:
        await asyncio.gather(claiming, senders, recording)
    finally:
        for task in (claiming, senders, recording):
            task.cancel()
    return claimed_total
