"""Stopping a long command with SIGINT or SIGTERM, wherever it was started from.

A shell starts background jobs with SIGINT ignored, and Python then keeps it ignored: `kill -INT` (or a
script's Ctrl-C) did nothing to a background `halsted map`, and SIGTERM killed it on the spot, leaving
its decoder processes behind. Inside `stop_on_signals()` both signals raise
`Stopped` in the main thread; the command's own clean-up (`finally` blocks: the decoding thread and
its worker processes stop between frames) runs, and the command says it stopped.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextmanager
def stop_on_signals(signums=(signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Stopped` (once: a second signal does not interrupt
    the clean-up the first one started). The previous handlers come back afterwards."""
    fired = []

    def handler(signum, _frame):
        if not fired:
            fired.append(signum)
            raise Stopped(signum)

    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
