"""The daemon: ``pxrules run`` composed of parts it does not implement.

- :mod:`.service` — the lifecycle (start, signals, reload, shutdown) that composes the rest;
- :mod:`.outbox` and :mod:`.routing` — who gets an alert, written before it is delivered;
- :mod:`.delivery` — one worker per target, retries with backoff; :mod:`.notifiers` the targets;
- :mod:`.store` and :mod:`.checkpoints` — durable state; :mod:`.health`, :mod:`.http` and
  :mod:`.metrics` — what it shows; :mod:`.redaction` — secrets kept out of logs.
"""
