"""Named errors of the receipts context."""

from __future__ import annotations

from market.kernel.errors import NotFound, RuleViolation


class ReceiptNotFound(NotFound):
    """No such receipt visible to the caller."""

    code = "receipt_not_found"
    title = "Receipt not found"


class LogNotFound(NotFound):
    """No log for that suite (the suites are secp256k1-sha256 and sm2-sm3)."""

    code = "log_not_found"
    title = "Log not found"


class CheckpointNotFound(NotFound):
    """The log has no signed checkpoint at that size (or none yet)."""

    code = "checkpoint_not_found"
    title = "Checkpoint not found"


class LogSizeInvalid(RuleViolation):
    """A consistency proof was asked between sizes the log cannot prove."""

    code = "log_size_invalid"
    title = "Log sizes out of range"
    detail_template = ("A consistency proof needs 0 < first ≤ second ≤ %(size)s, the log's "
                       "size; got first=%(first)s, second=%(second)s.")
