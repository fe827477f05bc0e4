"""When to reconnect: a pure function of how the last attempt ended and the failures so far.

>>> policy = ReconnectPolicy(Backoff(initial=1, maximum=60, jitter=0))
>>> policy.after_failed_connect(failures=0), policy.after_connection(lasted=3.0, failures=1)
(Retry(delay=1.0, failures=1), Retry(delay=4.0, failures=2))
>>> policy.after_connection(lasted=600.0, failures=5)
Retry(delay=1.0, failures=0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backoff import Backoff

# Seconds a connection must last to reset the reconnect backoff: a server that accepts and drops
# us at once is not hammered, while one that ends connections every 30 s (an idle timeout, the
# soak test) gets a quick reconnect each time. (At 30 s the soak test's connections, ended every
# 30 s, all counted as failures and the daemon spent minutes backing off.)
STABLE_AFTER = 10.0
#: A revoked key will not come back in seconds: it is retried at the long end, at least this.
REFUSED_DELAY = 300.0


@dataclass(frozen=True, slots=True)
class Retry:
    """Wait ``delay`` seconds, then try again; ``failures`` is the count to carry on."""

    delay: float
    failures: int


@dataclass(frozen=True)
class ReconnectPolicy:
    """Capped exponential backoff with jitter, forever; a refused key at the long end."""

    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=60.0))
    refused_delay: float | None = None  # default: the backoff's maximum, at least REFUSED_DELAY
    stable_after: float = STABLE_AFTER

    @property
    def refused(self) -> float:
        """The wait after the server refused the key (it was revoked or rotated)."""
        return self.refused_delay or max(self.backoff.maximum, REFUSED_DELAY)

    def after_failed_connect(self, failures: int) -> Retry:
        """A connect attempt failed (network, timeout, server error)."""
        return Retry(self.backoff.delay(failures), failures + 1)

    def after_refused(self, failures: int) -> Retry:
        """The server refused the key on a later connect (the first refusal is final)."""
        return Retry(self.refused, failures + 1)

    def after_connection(self, lasted: float, failures: int) -> Retry:
        """A connection ended after ``lasted`` seconds. One that did not last is a failure too:
        a server that accepts and drops us at once gets the growing backoff."""
        failures = failures + 1 if lasted < self.stable_after else 0
        return Retry(self.backoff.delay(failures), failures)
