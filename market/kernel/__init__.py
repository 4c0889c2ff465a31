"""The shared kernel: what every context needs and none owns.

config, db, uow (unit of work), errors, audit (hash-chained log), outbox, idempotency,
events (in-transaction domain events), money, ids, clock, canonical (RFC 8785), pagination,
actor (with ``Role`` and ``require``), statemachine (states with a history), migrate, and
``web``, the HTTP glue. The kernel imports no bounded context.
"""
