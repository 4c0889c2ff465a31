"""Named errors of the trading context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from market.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation


class OrderNotFound(NotFound):
    """No such order visible to the caller."""

    code = "order_not_found"
    title = "Order not found"


class DisputeNotFound(NotFound):
    code = "dispute_not_found"
    title = "Dispute not found"


class OrderRefused(RuleViolation):
    """The compliance rules block the order (or the delivery); each blocking rule is named,
    with the decision that records it."""

    code = "order_refused"
    title = "The compliance rules refuse this order"

    def __init__(self, violations: Sequence[dict[str, Any]]) -> None:
        super().__init__(errors={"rules": [
            {k: v for k, v in violation.items() if k != "right_id"} for violation in violations]})


class DeliveryRefused(OrderRefused):
    code = "delivery_refused"
    title = "The compliance rules refuse this delivery"


class OfferNotBuyable(RuleViolation):
    """Negotiable and pay-per-use offers are not bought by placing an order directly."""

    code = "offer_not_buyable"
    title = "This offer cannot be ordered directly"
    detail_template = "a %(kind)s offer is not ordered directly"


class OfferNeedsCap(RuleViolation):
    """A pay-per-use order escrows the most one period can cost: an offer without a cap
    cannot be ordered."""

    code = "offer_without_cap"
    title = "A pay-per-use offer needs a cap to be ordered"


class OrderFlagged(Conflict):
    """A rights problem flagged the order: it cannot be paid or delivered until the rights
    are restored (the buyer may cancel or dispute)."""

    code = "order_flagged"
    title = "The order is flagged by a rights problem"


class ReviewWindowClosed(Conflict):
    """Nobody decided the order's review in time: the order is cancelled."""

    code = "review_window_closed"
    title = "The order's review window has closed"


class PaymentWindowClosed(Conflict):
    code = "payment_window_closed"
    title = "The order's payment window has closed"


class DeliveryWindowClosed(Conflict):
    """The delivery window ended: the order is refunded to the buyer."""

    code = "delivery_window_closed"
    title = "The order's delivery window has closed"


class DisputeWindowClosed(Conflict):
    code = "dispute_window_closed"
    title = "The order can no longer be disputed"


class DisputeAwaitingAnswer(Conflict):
    """The operator decides a dispute once the merchant answered or the answer window
    ended."""

    code = "dispute_awaiting_answer"
    title = "The merchant's answer window is still open"


class DisputeNotOpen(Conflict):
    code = "dispute_not_open"
    title = "The dispute is not waiting for this step"


class FingerprintMismatch(InvalidInput):
    """The buyer confirmed a fingerprint that is not the delivered file's."""

    code = "fingerprint_mismatch"
    title = "The fingerprint is not the delivered file's"


class DeliveryModeNotOffered(InvalidInput):
    code = "delivery_mode_not_offered"
    title = "The listing does not offer this delivery mode"


class NotAParty(Forbidden):
    """Only the buyer (or the seller, where named) may take this step."""

    code = "not_a_party"
    title = "You are not the party that takes this step"


class DownloadNotAllowed(Forbidden):
    """The download token is unknown, expired or used up, or the order no longer allows
    downloads."""

    code = "download_not_allowed"
    title = "The download link is not valid"


class NoFileDelivered(Conflict):
    code = "no_file_delivered"
    title = "No file has been delivered for this order"


class CredentialNotValid(NotFound):
    code = "credential_not_valid"
    title = "The access credential is not valid"


class OrderNotSettled(Conflict):
    """Money is refunded after settlement only from a settled order (before settlement a
    dispute's decision refunds from the escrow)."""

    code = "order_not_settled"
    title = "The order is not settled"


class SubscriptionNotFound(NotFound):
    """No such subscription visible to the caller."""

    code = "subscription_not_found"
    title = "Subscription not found"


class SubscriptionNotRenewing(Conflict):
    """A payment rail reported on an order that is not a subscription's renewal waiting for
    payment."""

    code = "subscription_not_renewing"
    title = "The order is not a renewal waiting for payment"
