"""Named errors of the trading context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from market.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MarketError,
    NotFound,
    RuleViolation,
)


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


class DisputeAlreadyEscalated(Conflict):
    """The decision was already taken to arbitration (and perhaps awarded)."""

    code = "dispute_already_escalated"
    title = "The dispute is already with an arbitration institution"


class EscalationWindowClosed(Conflict):
    """The operator's decision was carried out, or its escalation window ended."""

    code = "escalation_window_closed"
    title = "The decision can no longer be taken to arbitration"


class EscalationWaived(Conflict):
    """The party waived taking the decision to arbitration; a waiver is final."""

    code = "escalation_waived"
    title = "You waived taking this decision to arbitration"


class DisputeNotEscalated(Conflict):
    """An award is recorded only for a dispute taken to arbitration and not yet awarded."""

    code = "dispute_not_escalated"
    title = "The dispute is not waiting for an arbitration award"


class UnknownInstitution(InvalidInput):
    """Disputes go to arbitration only at one of the institutions the rules name."""

    code = "unknown_arbitration_institution"
    title = "Not one of the exchange's arbitration institutions"
    detail_template = "%(institution)s is not one of the institutions the dispute rules name"


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


class DeliveryFileDeleted(MarketError):
    """The delivered file was deleted from storage once no contract needed it; the delivery
    keeps its SHA-256."""

    status = 410
    code = "delivery_file_deleted"
    title = "The delivered file was deleted"
    detail_template = ("the file was deleted when no contract needed it any more; its "
                       "SHA-256 %(sha256)s stays on record")


class DestructionNotDue(Conflict):
    """The order's term has not ended (or nothing was delivered): no destruction is due."""

    code = "destruction_not_due"
    title = "No destruction is due for this order yet"


class DestructionAlreadyDeclared(Conflict):
    """The buyer already declared the destruction of what this order delivered."""

    code = "destruction_already_declared"
    title = "The destruction was already declared"


class DestructionRequestNotFound(NotFound):
    """No destruction was asked for this order (its term has not ended)."""

    code = "destruction_request_not_found"
    title = "No destruction was asked for this order"


class SigningKeyNotUsable(RuleViolation):
    """A contract is signed only by a verified, unrevoked key of the signer's own
    organisation (an unregistered, pending or revoked key signs nothing)."""

    code = "signing_key_not_usable"
    title = "The key is not a verified, unrevoked signing key of your organisation"
    detail_template = "key %(key_id)s is %(status)s"


class ContractSignatureInvalid(InvalidInput):
    """The signature does not verify against the key over the contract's digest."""

    code = "contract_signature_invalid"
    title = "The signature does not verify over the contract's digest"
    detail_template = ("sign the contract's sha256 (%(sha256)s): EIP-191 over its 64 hex "
                       "digits, or SM2 over its 32 bytes")


class ContractAlreadySigned(Conflict):
    """Each party signs, or declines to sign, its order's contract once."""

    code = "contract_already_signed"
    title = "Your side has already signed or declined this contract"
    detail_template = "the %(party)s %(act)s on %(at)s"


class ContractSigningClosed(Conflict):
    """A contract is signed before it is performed: not once the order is delivered or
    closed."""

    code = "contract_signing_closed"
    title = "The contract can no longer be signed"
    detail_template = "the order is %(status)s"
