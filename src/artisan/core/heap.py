"""The cyclic garbage collector's settings for a long-running server process."""

from __future__ import annotations

import gc
import os

# A batch of 1,000 events allocates a few hundred thousand container objects (parsed JSON,
# models, rows); at the default threshold of 700 that is hundreds of young collections per
# batch, and every tenth promotes survivors the next full collection walks again.
YOUNG_THRESHOLD = 50_000

_settled_in: int | None = None


def settle_heap(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Freeze the start-up heap out of the collector's reach and collect young objects less
    often; once per process."""
    global _settled_in
    if _settled_in == os.getpid():
        return
    _settled_in = os.getpid()
    # Modules, settings, schemas and pools never become garbage, yet every full collection
    # walks them again. Collect first so no garbage is frozen with them.
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
