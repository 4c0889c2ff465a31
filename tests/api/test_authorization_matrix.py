"""Authorization matrix: every endpoint × every kind of caller × own or foreign object.

The expected answers below are written by hand from the product rules, not derived from the
``@bp.access`` declarations (that would only test the declarations against themselves):

* no key → 401 ``unauthorized``, except where the public may call (applications, probes;
  probes do not even look at a key);
* organisations not admitted (applied, suspended) may only follow their own application:
  GET their organisation, its admission history, ``/participants`` (themselves) and ``/me``,
  and sign their admission commitment; anything else → 403 ``participant_not_admitted``;
* a role that may not call an endpoint → 403 ``role_not_allowed``; a read-only key on a write
  → 403 ``scope_not_allowed``. These denials do not depend on the object, so they come first
  and reveal nothing about it;
* the operator and regulators see every organisation, everyone else only their own; an object
  the caller may not see answers 404, never 403;
* regulators read but never change participants; only the operator decides admission, and
  never about an operator organisation; users and keys are managed by their own organisation.

Rights (resources, right registrations, grants, disputes, certificates, rights chains):

* merchants register resources, rights and grants and add evidence to their own; reviews and
  review claims are for the operator and assessors; only the operator resolves disputes;
* status changes: the operator any, a merchant only revoking its own right (the request here
  suspends, so the holder gets 403 ``not_the_holder``);
* reads: merchants their own, the operator, assessors and regulators everything; a grant is
  seen by its grantor and its grantee too; anything else answers 404;
* certificates are public (credentials are not looked at); any admitted organisation may
  check a product's rights chain;
* disputes: objections (登记异议) are lodged through the operator, who files them for a
  claimant; nobody else can suspend a holder's rights or probe for resource ids that way.

Listing (products, their versions, review, the listing lifecycle, the public catalogue):

* merchants draft, revise and submit their own products; a foreign product is 404 to them;
  reviews and review claims are for the operator and assessors;
* status changes: the operator any, a merchant only delisting its own product (the request
  here suspends, so the merchant gets 403 ``not_the_merchant``, and 404 for a foreign one);
* reads: merchants their own, the operator, assessors and regulators every product;
* the catalogue (search, statistics, JSON-LD exports) and a listed product's entry, sample
  and exports are public (credentials are not looked at).

Trading and settlement (orders, contracts, delivery, downloads, disputes, the ledger,
payouts):

* buyers place, pay, accept and dispute their own orders and take their download links;
  either side may cancel an order before it is paid; the seller (a merchant) delivers,
  reports the usage of pay-per-use orders and answers disputes; the operator and assessors
  review orders the rules sent to review; either party takes the operator's decision on a
  dispute to arbitration or waives it, and only the operator records the award; the
  dispute rules are public; only the operator decides disputes, records
  top-ups and confirms or rejects payouts; regulators read everything and never write;
* orders (with their contracts, histories and ledgers), disputes, accounts and payouts are
  seen by their own parties (the buyer and the seller; an account's or payout's owner), the
  operator and regulators; assessors see only orders waiting for review; a foreign one is
  404 to everyone else;
* downloads are token-protected and public: the token is the credential, a key is not
  looked at;
* a merchant's API checks the credentials of its own orders; a product's revenue split is
  read by its merchant, the operator and regulators and set by its merchant alone;
* participants are paid out of what is payable to them (a merchant's sales, a broker's
  share); buyers and assessors may ask, and are refused 422 ``insufficient_funds`` with
  nothing payable.

Matching (demands, their matches, negotiations, broker proposals, supply lists, capabilities,
saved searches) is for traders: buyers, merchants, brokers, the operator and regulators;
assessors take no part in it (403 ``role_not_allowed``):

* buyers post demands, brokers post them for an admitted buyer they name; buyers ask the
  merchant of a listed product for a quote, for a use the listing's terms allow; merchants
  answer a demand they see with one of their own listed products and declare (and withdraw
  their own) capabilities; brokers propose a listed product for a demand they see; buyers
  keep saved searches and delete their own; the operator and regulators read everything and
  never trade: every write is 403 ``role_not_allowed`` to them;
* a demand is its buyer's and, when a broker posted it, that broker's; a public demand still
  open is seen by merchants and brokers too, while buyers see only their own; its matches
  are for its buyer, its broker, the operator and regulators; only its buyer (or its
  posting broker) edits or closes it: to other buyers and brokers it is 404
  ``demand_not_found``;
* a negotiation is seen by its buyer, its merchant and its broker, the operator and
  regulators; the merchant offers on a quote request; the side whose turn it is counters or
  agrees (the side whose terms are on the table gets 409 ``not_your_turn``); both parties
  accept a broker's proposal; either party declines or withdraws, and the broker withdraws
  its proposal while it is only proposed; a foreign one is 404 ``negotiation_not_found``;
* capabilities and saved searches are their owner's alone: a foreign one is 404
  (``capability_not_found``, ``saved_search_not_found``) to a caller of the role that has
  them.

Receipts (signed receipts of records, their proof bundles, the log and its anchoring):

* a receipt and its proof bundle are read by the organisations party to the record it proves
  (an order's buyer and seller), the operator and regulators, and by anyone when the record
  is public (a listing's approval, a right's certificate); anyone may ask, without a key
  too, and a receipt the caller may not read answers 404 ``receipt_not_found``. A key, when
  sent, only says who asks; an organisation not admitted reads no private receipt, not even
  of its own orders (as it reads no order), only public ones;
* anyone may check a proof bundle (a POST that only reads) and read the log's signed
  checkpoints and consistency proofs;
* the anchoring batches are for the operator and regulators.

"Own" rights objects are the caller's as holder; only merchants hold them, so the other
callers have no such cell, except for grants, which they can receive: an own grant is one the
caller gave (merchants) or was given (everyone else admitted). Products too are only ever a
merchant's own. Own trading objects are the caller's as seller (merchants), as buyer
(buyers), or as owner: an own account holds a top-up recorded for the caller, a broker's own
payout is paid from its share of a sale. Own matching objects: a demand the caller posted as
its buyer (buyers) or for a buyer (brokers); a negotiation the caller is a party to (buyers,
and merchants on their own listed product) or brokers (brokers); a merchant's capability; a
buyer's saved search. Merchants never own a demand. An own receipt is the contract receipt
of an order the caller placed (buyers) or sold (merchants); the foreign one is that of an
order between the target and another buyer. The log is nobody's own.

A denied request must leave no trace: the organisations, their users and admission history,
the resources, rights and grants, the products with their histories, the public catalogue,
the orders with their ledgers and histories, the disputes, accounts and payouts, the demands
with their matches and histories, the negotiations with their histories, the capabilities
and saved searches, the receipts with their log and anchoring batches, and the audit head
are compared before and after it. An allowed write must move the audit head; an allowed POST
that only reads must not.

Each test runs in a savepoint rolled back after it, inside one transaction for the module.
A cell's world (the observing operator, the target with its objects, the caller with its
own) is built before that savepoint and kept for the next cells in the same world, which
are collected one after another: every one of them starts from the world as built, so what
the observer saw there once stands for what each saw before its request.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Table, select
from sqlalchemy.engine import Connection, NestedTransaction
from sqlalchemy.orm import Session, sessionmaker

from market.app import create_app
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.ids import new_id
from market.kernel.uow import UnitOfWork
from market.kernel.web import access_of
from market.matching.models import Capability, SavedSearch, SavedSearchHit
from market.participants import services as participants
from market.participants.domain import Status, random_credit_code
from market.participants.models import SigningKey
from market.receipts import services as receipts
from market.receipts.models import (
    AnchorBatch,
    Checkpoint,
    LogEntry,
    LogHead,
    LogNode,
    Receipt,
    ReceiptQueue,
)
from market.rights.models import PublicDataAuthorisation
from market.settlement.rails.models import CardPayment, ConnectAccount, StripeCall, StripeEvent
from market.trading.contract_signatures import ContractSignature
from market.webhooks.models import Delivery as WebhookDelivery
from market.webhooks.models import Endpoint as WebhookEndpoint
from market.webhooks.models import EndpointSecret
from market.webhooks.models import Event as WebhookEvent
from tests.conftest import START, TEST_SECRET, TEST_SIGNING_KEY, Party, problem

API = "/api/v1"

CALLERS = ("anonymous", "operator", "merchant", "buyer", "assessor", "broker", "regulator",
           "applicant", "suspended", "read_only")

# Which object an endpoint with an id in its path is called on.
NO_OBJECT, OWN, FOREIGN = "no object", "own", "foreign"

Expected = int | tuple[int, str] | None

OK, NEW = 200, 201
NA = None  # no such cell: the caller cannot own such an object (the anonymous caller nothing)
UNAUTH = (401, "unauthorized")
ROLE = (403, "role_not_allowed")
NOTADM = (403, "participant_not_admitted")
SCOPE = (403, "scope_not_allowed")
FIXED = (403, "operator_status_fixed")
NO_ORG = (404, "organisation_not_found")
NO_KEY = (404, "api_key_not_found")
NO_RES = (404, "resource_not_found")
NO_RGT = (404, "right_not_found")
NO_GNT = (404, "grant_not_found")
NO_PDA = (404, "public_data_authorisation_not_found")
HOLDER = (403, "not_the_holder")
NO_PRD = (404, "product_not_found")
NOT_MERCH = (403, "not_the_merchant")
NO_DCL = (404, "declaration_not_found")
NO_DST = (404, "destruction_request_not_found")
NOT_DUE = (409, "destruction_not_due")
ID_LOCKED = (409, "identity_change_needs_operator")
NO_DEC = (404, "decision_not_found")
NO_FIL = (404, "filing_not_found")
NO_ORD = (404, "order_not_found")
NO_SUB = (404, "subscription_not_found")
NO_DSP = (404, "dispute_not_found")
NO_ACC = (404, "account_not_found")
NO_PAY = (404, "payout_not_found")
BROKE = (422, "insufficient_funds")
GONE = 204  # deleted: no content
NO_DMD = (404, "demand_not_found")
NO_NEG = (404, "negotiation_not_found")
NO_SAV = (404, "saved_search_not_found")
NO_CAP = (404, "capability_not_found")
NO_RCP = (404, "receipt_not_found")
NO_WHE = (404, "webhook_endpoint_not_found")
NO_EVT = (404, "webhook_event_not_found")
QUEUED = 202  # accepted for sending
NO_CONN = (404, "connect_account_not_found")
BAD_SIG = (400, "stripe_signature_invalid")
NO_SKEY = (404, "signing_key_not_found")
NO_MRK = (404, "credit_mark_not_found")
NOT_OWN = (403, "not_own_organisation")

# fmt: off
MATRIX: dict[tuple[str, str], dict[str, tuple[Expected, ...]]] = {
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    ("POST", f"{API}/participants"): {
        NO_OBJECT: (NEW,    NEW,    ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/participants"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/participants/<org_id>"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, OK,     NO_ORG, NO_ORG, NO_ORG),
    },
    ("PATCH", f"{API}/participants/<org_id>"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     ROLE,   NOTADM, NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/participants/<org_id>/status-changes"): {
        OWN:       (NA,     FIXED,  ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/participants/<org_id>/status-changes"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, OK,     NO_ORG, NO_ORG, NO_ORG),
    },
    ("POST", f"{API}/participants/<org_id>/users"): {
        OWN:       (NA,     NEW,    NEW,    NEW,    NEW,    NEW,    NEW,    NOTADM, NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NO_ORG, NO_ORG, NO_ORG, NO_ORG, NO_ORG, NO_ORG, NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/participants/<org_id>/users"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, OK,     NOTADM, NOTADM, NO_ORG),
    },
    ("GET", f"{API}/me"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("POST", f"{API}/keys"): {
        NO_OBJECT: (UNAUTH, NEW,    NEW,    NEW,    NEW,    NEW,    NEW,    NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/keys"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("POST", f"{API}/keys/<key_id>/revoke"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NO_KEY, NO_KEY, NO_KEY, NO_KEY, NO_KEY, NO_KEY, NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/audit/entries"): {
        NO_OBJECT: (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/audit/verification"): {
        NO_OBJECT: (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    # Probes are public: credentials, if sent, are not looked at.
    ("GET", "/healthz"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", "/readyz"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    # -- rights ------------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    ("POST", f"{API}/resources"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/resources"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/resources/<resource_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_RES, NO_RES, OK,     NO_RES, OK,     NOTADM, NOTADM, NO_RES),
    },
    ("POST", f"{API}/resources/<resource_id>/evidence"): {
        OWN:       (NA,     NA,     NEW,    NA,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_RES, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # Only the operator files objections, for a claimant.
    ("POST", f"{API}/resources/<resource_id>/disputes"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, NEW,    ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/resources/<resource_id>/disputes"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_RES, NO_RES, OK,     NO_RES, OK,     NOTADM, NOTADM, NO_RES),
    },
    ("POST", f"{API}/resources/<resource_id>/disputes/<dispute_id>/resolution"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/rights"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/rights"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/rights/<right_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_RGT, NO_RGT, OK,     NO_RGT, OK,     NOTADM, NOTADM, NO_RGT),
    },
    ("GET", f"{API}/rights/<right_id>/history"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_RGT, NO_RGT, OK,     NO_RGT, OK,     NOTADM, NOTADM, NO_RGT),
    },
    ("POST", f"{API}/rights/<right_id>/evidence"): {
        OWN:       (NA,     NA,     NEW,    NA,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_RGT, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/rights/<right_id>/review-claims"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   OK,     ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/rights/<right_id>/reviews"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   OK,     ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/rights/<right_id>/status-changes"): {
        OWN:       (NA,     NA,     HOLDER, NA,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, OK,     NO_RGT, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/products/<product_id>/rights-chain"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("POST", f"{API}/grants"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/grants"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/grants/<grant_id>"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_GNT, NO_GNT, OK,     NO_GNT, OK,     NOTADM, NOTADM, NO_GNT),
    },
    ("POST", f"{API}/grants/<grant_id>/revoke"): {
        OWN:       (NA,     OK,     OK,     ROLE,   ROLE,   ROLE,   ROLE,   NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, OK,     NO_GNT, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # Public-data authorisations: the operator grants and revokes them (to an admitted
    # merchant, the target here); the authorised merchant, the operator and regulators read
    # one; anyone admitted lists (its own, or all for the operator and regulators).
    ("POST", f"{API}/public-data/authorisations"): {
        NO_OBJECT: (UNAUTH, NEW,    ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/public-data/authorisations"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/public-data/authorisations/<authorisation_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_PDA, NO_PDA, NO_PDA, NO_PDA, OK,     NOTADM, NOTADM, NO_PDA),
    },
    ("POST", f"{API}/public-data/authorisations/<authorisation_id>/revoke"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # Certificates are public: credentials, if sent, are not looked at.
    ("GET", f"{API}/certificates/<number>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     OK,     OK),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/certificates/<number>/verification"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     OK,     OK),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    # -- listing -----------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    ("POST", f"{API}/products"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/products"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/products/<product_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_PRD, NO_PRD, OK,     NO_PRD, OK,     NOTADM, NOTADM, NO_PRD),
    },
    ("PUT", f"{API}/products/<product_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_PRD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/products/<product_id>/submission"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_PRD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/products/<product_id>/review-claims"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   OK,     ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/products/<product_id>/reviews"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   OK,     ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/products/<product_id>/status-changes"): {
        OWN:       (NA,     NA,     NOT_MERCH, NA,  NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, OK,     NO_PRD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/products/<product_id>/history"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_PRD, NO_PRD, OK,     NO_PRD, OK,     NOTADM, NOTADM, NO_PRD),
    },
    # The catalogue is public: credentials, if sent, are not looked at.
    ("GET", f"{API}/catalog/<product_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     OK,     OK),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/catalog/<product_id>/sample"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     OK,     OK),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/catalog/<product_id>/dcat.jsonld"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     OK,     OK),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/catalog/<product_id>/terms.jsonld"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     OK,     OK),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/catalog"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/catalog/statistics"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/catalog.jsonld"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    # -- compliance --------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # The templates are public: credentials, if sent, are not looked at.
    ("GET", f"{API}/declaration-templates"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    # How long records are kept is published: credentials, if sent, are not looked at.
    ("GET", f"{API}/retention-policy"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/declarations"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    # Participants (applicants too) commit to the rules; the venue and regulators do not.
    ("POST", f"{API}/declarations/admission"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    NEW,    NEW,    NEW,    ROLE,   NEW,    NEW,    SCOPE),
    },
    ("GET", f"{API}/declarations/<declaration_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_DCL, NO_DCL, OK,     NO_DCL, OK,     NOTADM, NOTADM, NO_DCL),
    },
    # Only the operator records breaches; regulators read, never write.
    ("POST", f"{API}/declarations/<declaration_id>/breaches"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, NEW,    ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/participants/<org_id>/credit"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, OK,     NO_ORG, OK,     NOTADM, NOTADM, NO_ORG),
    },
    ("GET", f"{API}/decisions"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/decisions/<decision_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_DEC, NO_DEC, OK,     NO_DEC, OK,     NOTADM, NOTADM, NO_DEC),
    },
    # Parties report trades concluded off the exchange; the operator never trades.
    ("POST", f"{API}/filings"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    NEW,    ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/filings"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/filings/<filing_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_FIL, NO_FIL, NO_FIL, NO_FIL, OK,     NOTADM, NOTADM, NO_FIL),
    },
    # -- regulator ---------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    ("GET", f"{API}/regulator/filings"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/regulator/filings/export"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/regulator/statistics"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/regulator/public-data/trades"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/regulator/public-data/fund"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/regulator/retention"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/regulator/orders"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    # The order here is settled and filed.
    ("GET", f"{API}/regulator/orders/<order_id>"): {
        OWN:       (NA,     NA,     ROLE,   ROLE,   NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    # The supervision trace: regulators and the operator answer who looked at what.
    ("GET", f"{API}/regulator/reads"): {
        NO_OBJECT: (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    # Alerts are nobody's own: the operator and regulators watch and dispose of them.
    ("GET", f"{API}/alerts"): {
        NO_OBJECT: (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/alerts/<alert_id>"): {
        OWN:       (NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/alerts/<alert_id>/dispositions"): {
        OWN:       (NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    # The review queue is for the operator, assessors (who attach reports) and regulators.
    ("GET", f"{API}/reviews"): {
        NO_OBJECT: (UNAUTH, OK,     ROLE,   ROLE,   OK,     ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/reviews/<item_id>"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   OK,     ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/reviews/<item_id>/reports"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, NEW,    ROLE,   ROLE,   NEW,    ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # Only regulators order suspensions (of the target organisation here).
    ("POST", f"{API}/suspension-orders"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NEW,    NOTADM, NOTADM, ROLE),
    },
    # Public disclosure: credentials, if sent, are not looked at.
    ("GET", f"{API}/disclosure/market-statistics"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/disclosure/sanctions"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    # -- trading ----------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # Buyers order; the venue, merchants as such and regulators never buy.
    ("POST", f"{API}/orders"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   NEW,    ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/orders"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    # An order is its buyer's and its seller's; assessors see only orders waiting for review.
    ("GET", f"{API}/orders/<order_id>"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORD, NO_ORD, NO_ORD, NO_ORD, OK,     NOTADM, NOTADM, NO_ORD),
    },
    ("GET", f"{API}/orders/<order_id>/contract"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORD, NO_ORD, NO_ORD, NO_ORD, OK,     NOTADM, NOTADM, NO_ORD),
    },
    # The buyer's purchase commitment is read like the contract it is part of.
    ("GET", f"{API}/orders/<order_id>/commitment"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORD, NO_ORD, NO_ORD, NO_ORD, OK,     NOTADM, NOTADM, NO_ORD),
    },
    ("GET", f"{API}/orders/<order_id>/history"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORD, NO_ORD, NO_ORD, NO_ORD, OK,     NOTADM, NOTADM, NO_ORD),
    },
    ("GET", f"{API}/orders/<order_id>/ledger"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORD, NO_ORD, NO_ORD, NO_ORD, OK,     NOTADM, NOTADM, NO_ORD),
    },
    # A settled order's refunds: the seller gives goodwill (the request here), the operator
    # refunds on a dispute or an arbitration award (so goodwill is 403 to it); they are read
    # like the order's ledger.
    ("POST", f"{API}/orders/<order_id>/refunds"): {
        OWN:       (NA,     NA,     NEW,    ROLE,   NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/orders/<order_id>/refunds"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORD, NO_ORD, NO_ORD, NO_ORD, OK,     NOTADM, NOTADM, NO_ORD),
    },
    # Subscriptions are their buyer's and their seller's (the operator and regulators read
    # them all); only the buyer turns renewal off or accepts new terms.
    ("GET", f"{API}/subscriptions"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/subscriptions/<subscription_id>"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_SUB, NO_SUB, NO_SUB, NO_SUB, OK,     NOTADM, NOTADM, NO_SUB),
    },
    ("GET", f"{API}/subscriptions/<subscription_id>/history"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_SUB, NO_SUB, NO_SUB, NO_SUB, OK,     NOTADM, NOTADM, NO_SUB),
    },
    ("GET", f"{API}/subscriptions/<subscription_id>/terms"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_SUB, NO_SUB, NO_SUB, NO_SUB, OK,     NOTADM, NOTADM, NO_SUB),
    },
    ("PATCH", f"{API}/subscriptions/<subscription_id>"): {
        OWN:       (NA,     NA,     ROLE,   OK,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_SUB, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/subscriptions/<subscription_id>/terms-acceptance"): {
        OWN:       (NA,     NA,     ROLE,   NEW,    NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_SUB, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # The order here waits for review (the rules sent it there).
    ("POST", f"{API}/orders/<order_id>/review"): {
        OWN:       (NA,     NA,     ROLE,   ROLE,   NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   OK,     ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # Either side may cancel an unpaid order.
    ("POST", f"{API}/orders/<order_id>/cancellation"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_ORD, NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/orders/<order_id>/payment"): {
        OWN:       (NA,     NA,     ROLE,   OK,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # The buyer asks to pay its order awaiting payment by card (the Stripe rail).
    ("POST", f"{API}/orders/<order_id>/card-payment"): {
        OWN:       (NA,     NA,     ROLE,   QUEUED, NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # The card payment (asked for here by the order's buyer) is the buyer's, the operator's
    # and regulators' to read.
    ("GET", f"{API}/orders/<order_id>/card-payment"): {
        OWN:       (NA,     NA,     ROLE,   OK,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   NO_ORD, ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/orders/<order_id>/deliveries"): {
        OWN:       (NA,     NA,     NEW,    ROLE,   NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/orders/<order_id>/deliveries/file"): {
        OWN:       (NA,     NA,     NEW,    ROLE,   NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # The order here is on a pay-per-use offer, delivered by API; the merchant's API reports.
    ("POST", f"{API}/orders/<order_id>/usage"): {
        OWN:       (NA,     NA,     NEW,    ROLE,   NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/orders/<order_id>/usage"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORD, NO_ORD, NO_ORD, NO_ORD, OK,     NOTADM, NOTADM, NO_ORD),
    },
    ("POST", f"{API}/orders/<order_id>/download-tokens"): {
        OWN:       (NA,     NA,     ROLE,   NEW,    NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # Downloads are token-protected and public: credentials, if sent, are not looked at.
    ("GET", f"{API}/downloads/<token>"): {
        OWN:       (NA,     NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NA),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("POST", f"{API}/orders/<order_id>/acceptance"): {
        OWN:       (NA,     NA,     ROLE,   OK,     NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/orders/<order_id>/disputes"): {
        OWN:       (NA,     NA,     ROLE,   NEW,    NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # Only the buyer declares the destruction of what was delivered, once the order's term
    # ended (here it runs on: 409); the parties, the operator and regulators read what was
    # asked (nothing yet: 404).
    ("POST", f"{API}/orders/<order_id>/destruction-declaration"): {
        OWN:       (NA,     NA,     ROLE,   NOT_DUE, NA,    NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/orders/<order_id>/destruction-request"): {
        OWN:       (NA,     NA,     NO_DST, NO_DST, NA,     NA,     NA,     NA,     NOTADM, NO_DST),
        FOREIGN:   (UNAUTH, NO_DST, NO_ORD, NO_ORD, NO_ORD, NO_ORD, NO_DST, NOTADM, NOTADM, NO_ORD),
    },
    ("GET", f"{API}/disputes"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/disputes/<dispute_id>"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_DSP, NO_DSP, NO_DSP, NO_DSP, OK,     NOTADM, NOTADM, NO_DSP),
    },
    ("POST", f"{API}/disputes/<dispute_id>/answer"): {
        OWN:       (NA,     NA,     OK,     ROLE,   NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_DSP, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # The dispute here has its merchant's answer.
    ("POST", f"{API}/disputes/<dispute_id>/decision"): {
        OWN:       (NA,     NA,     ROLE,   ROLE,   NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # The dispute rules are published: credentials are not looked at.
    ("GET", f"{API}/dispute-rules"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    # Either party takes the operator's decision (just made) to arbitration, or waives it.
    ("POST", f"{API}/disputes/<dispute_id>/escalation"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_DSP, NO_DSP, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/disputes/<dispute_id>/escalation-waiver"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_DSP, NO_DSP, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # The evidence bundle is for the parties, the operator and regulators.
    ("GET", f"{API}/disputes/<dispute_id>/evidence-bundle"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_DSP, NO_DSP, NO_DSP, NO_DSP, OK,     NOTADM, NOTADM, NO_DSP),
    },
    # Only the operator records the award of a dispute taken to arbitration.
    ("POST", f"{API}/disputes/<dispute_id>/award"): {
        OWN:       (NA,     NA,     ROLE,   ROLE,   NA,     NA,     NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # A merchant's API asks about a credential of its own order: a POST that only reads, so
    # a read-only key will do (a gateway should not hold a key that can write).
    ("POST", f"{API}/api-credentials/verification"): {
        NO_OBJECT: (UNAUTH, ROLE,   OK,     ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, OK),
    },
    # The revenue split is read by its merchant, the operator and regulators.
    ("GET", f"{API}/products/<product_id>/distribution"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_PRD, ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, NO_PRD),
    },
    ("PUT", f"{API}/products/<product_id>/distribution"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_PRD, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # -- settlement -------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # Only the operator records bank transfers (for the target here).
    ("POST", f"{API}/ledger/top-ups"): {
        NO_OBJECT: (UNAUTH, NEW,    ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/ledger/accounts"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    # An own account: a top-up recorded for the caller. The venue and regulators hold none.
    ("GET", f"{API}/ledger/accounts/<account_id>"): {
        OWN:       (NA,     NA,     OK,     OK,     OK,     OK,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ACC, NO_ACC, NO_ACC, NO_ACC, OK,     NOTADM, NOTADM, NO_ACC),
    },
    ("GET", f"{API}/ledger/accounts/<account_id>/statement"): {
        OWN:       (NA,     NA,     OK,     OK,     OK,     OK,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ACC, NO_ACC, NO_ACC, NO_ACC, OK,     NOTADM, NOTADM, NO_ACC),
    },
    # Payees (merchants, brokers) ask for their own Stripe Connect account and read it (each
    # has asked for one here); the operator and regulators read any organisation's
    # (``?org_id=``), and have none of their own.
    ("POST", f"{API}/payments/connect-account"): {
        NO_OBJECT: (UNAUTH, ROLE,   QUEUED, ROLE,   ROLE,   QUEUED, ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/payments/connect-account"): {
        NO_OBJECT: (UNAUTH, NO_CONN, OK,    ROLE,   ROLE,   OK,     NO_CONN, NOTADM, NOTADM, OK),
    },
    # Stripe's events: public (credentials are not looked at), the signature is the proof;
    # this request has none.
    ("POST", f"{API}/webhooks/stripe"): {
        NO_OBJECT: (BAD_SIG, BAD_SIG, BAD_SIG, BAD_SIG, BAD_SIG, BAD_SIG, BAD_SIG, BAD_SIG,
                    BAD_SIG, BAD_SIG),
    },
    ("GET", f"{API}/ledger/verification"): {
        NO_OBJECT: (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    # Participants are paid out of what is payable to them: the merchant a sale's proceeds,
    # the broker its share; buyers and assessors may ask but are owed nothing here.
    ("POST", f"{API}/payouts"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    BROKE,  BROKE,  NEW,    ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/payouts"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/payouts/<payout_id>"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     OK,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_PAY, NO_PAY, NO_PAY, NO_PAY, OK,     NOTADM, NOTADM, NO_PAY),
    },
    # Only the operator confirms or rejects a payout, never one's own.
    ("POST", f"{API}/payouts/<payout_id>/confirmation"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     ROLE,   NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/payouts/<payout_id>/rejection"): {
        OWN:       (NA,     NA,     ROLE,   NA,     NA,     ROLE,   NA,     NA,     NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # -- matching ---------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # Buyers post their own demands, brokers one for the admitted buyer they name.
    ("POST", f"{API}/demands"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   NEW,    ROLE,   NEW,    ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/demands"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     ROLE,   OK,     OK,     NOTADM, NOTADM, OK),
    },
    # A demand is its buyer's and its posting broker's. The foreign one here is another
    # buyer's, public and open: merchants and brokers see it, other buyers do not.
    ("GET", f"{API}/demands/<demand_id>"): {
        OWN:       (NA,     NA,     NA,     OK,     NA,     OK,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, OK,     OK,     NO_DMD, ROLE,   OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/demands/<demand_id>/history"): {
        OWN:       (NA,     NA,     NA,     OK,     NA,     OK,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, OK,     OK,     NO_DMD, ROLE,   OK,     OK,     NOTADM, NOTADM, OK),
    },
    # Matches are for the buyer, its broker, the operator and regulators.
    ("GET", f"{API}/demands/<demand_id>/matches"): {
        OWN:       (NA,     NA,     NA,     OK,     NA,     OK,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, OK,     NO_DMD, NO_DMD, ROLE,   NO_DMD, OK,     NOTADM, NOTADM, NO_DMD),
    },
    # Only the buyer (or its posting broker) edits or closes a demand.
    ("PATCH", f"{API}/demands/<demand_id>"): {
        OWN:       (NA,     NA,     NA,     OK,     NA,     OK,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_DMD, ROLE,   NO_DMD, ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("POST", f"{API}/demands/<demand_id>/closure"): {
        OWN:       (NA,     NA,     NA,     OK,     NA,     OK,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_DMD, ROLE,   NO_DMD, ROLE,   NOTADM, NOTADM, ROLE),
    },
    # Merchants answer a demand they see with one of their own listed products.
    ("POST", f"{API}/demands/<demand_id>/answers"): {
        OWN:       (NA,     NA,     NA,     ROLE,   NA,     ROLE,   NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, ROLE,   NEW,    ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # Brokers propose a listed product (the target's here) for a demand they see.
    ("POST", f"{API}/demands/<demand_id>/proposals"): {
        OWN:       (NA,     NA,     NA,     ROLE,   NA,     NEW,    NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   ROLE,   ROLE,   NEW,    ROLE,   NOTADM, NOTADM, ROLE),
    },
    # Buyers ask for a quote on a listed product (the target's here), for a use it allows.
    ("POST", f"{API}/negotiations"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   NEW,    ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/negotiations"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     ROLE,   OK,     OK,     NOTADM, NOTADM, OK),
    },
    # A negotiation is its buyer's, its merchant's and its broker's.
    ("GET", f"{API}/negotiations/<negotiation_id>"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     OK,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_NEG, NO_NEG, ROLE,   NO_NEG, OK,     NOTADM, NOTADM, NO_NEG),
    },
    ("GET", f"{API}/negotiations/<negotiation_id>/history"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     OK,     NA,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_NEG, NO_NEG, ROLE,   NO_NEG, OK,     NOTADM, NOTADM, NO_NEG),
    },
    # The negotiation here is a buyer's quote request: its merchant offers.
    ("POST", f"{API}/negotiations/<negotiation_id>/offers"): {
        OWN:       (NA,     NA,     OK,     ROLE,   NA,     ROLE,   NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_NEG, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # The terms on the table here are the other side's, so it is the caller's turn: its
    # merchant's offer to a buyer, its buyer's counter to a merchant (the foreign one: its
    # merchant's offer).
    ("POST", f"{API}/negotiations/<negotiation_id>/counters"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     ROLE,   NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_NEG, NO_NEG, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/negotiations/<negotiation_id>/agreement"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     ROLE,   NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_NEG, NO_NEG, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # The negotiation here is a broker's proposal: both parties accept it.
    ("POST", f"{API}/negotiations/<negotiation_id>/acceptance"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     ROLE,   NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_NEG, NO_NEG, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # The negotiation here is a buyer's quote request: either party declines.
    ("POST", f"{API}/negotiations/<negotiation_id>/decline"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     ROLE,   NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_NEG, NO_NEG, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    # The negotiation here is a broker's proposal: the parties and the broker withdraw it.
    ("POST", f"{API}/negotiations/<negotiation_id>/withdrawal"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     OK,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_NEG, NO_NEG, ROLE,   NO_NEG, ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/supply"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     ROLE,   OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("POST", f"{API}/supply/capabilities"): {
        NO_OBJECT: (UNAUTH, ROLE,   NEW,    ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/supply/capabilities/<capability_id>/withdrawal"): {
        OWN:       (NA,     NA,     OK,     NA,     NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_CAP, ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/saved-searches"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   NEW,    ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/saved-searches"): {
        NO_OBJECT: (UNAUTH, ROLE,   ROLE,   OK,     ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("DELETE", f"{API}/saved-searches/<search_id>"): {
        OWN:       (NA,     NA,     NA,     GONE,   NA,     NA,     NA,     NA,     NA,     NA),
        FOREIGN:   (UNAUTH, ROLE,   ROLE,   NO_SAV, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    # -- receipts ---------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # The receipt here is an order's contract receipt: its buyer's and its seller's (a
    # suspended seller's too). Anyone may ask; those who may not read it get 404.
    ("GET", f"{API}/receipts/<receipt_id>"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NO_RCP, OK),
        FOREIGN:   (NO_RCP, OK,     NO_RCP, NO_RCP, NO_RCP, NO_RCP, OK,     NO_RCP, NO_RCP, NO_RCP),
    },
    ("GET", f"{API}/receipts/<receipt_id>/proof"): {
        OWN:       (NA,     NA,     OK,     OK,     NA,     NA,     NA,     NA,     NO_RCP, OK),
        FOREIGN:   (NO_RCP, OK,     NO_RCP, NO_RCP, NO_RCP, NO_RCP, OK,     NO_RCP, NO_RCP, NO_RCP),
    },
    # Anyone may check a proof bundle (a contract receipt's here): a POST that only reads.
    ("POST", f"{API}/receipts/verification"): {
        NO_OBJECT: (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    # The log (sequenced here) is nobody's own; its checkpoints and proofs are public.
    ("GET", f"{API}/receipts/logs/<suite>/checkpoint"): {
        OWN:       (NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/receipts/logs/<suite>/consistency"): {
        OWN:       (NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA,     NA),
        FOREIGN:   (OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
    },
    ("GET", f"{API}/receipts/batches"): {
        NO_OBJECT: (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   OK,     NOTADM, NOTADM, ROLE),
    },
    # -- webhooks ---------------------------------------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # Every admitted organisation keeps its own endpoints (a regulator's hear of alerts, as
    # it keeps its own keys); its events and endpoints are nobody else's, the operator's
    # and regulators' neither: a foreign one is 404.
    ("GET", f"{API}/webhooks/event-types"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("POST", f"{API}/webhooks/endpoints"): {
        NO_OBJECT: (UNAUTH, NEW,    NEW,    NEW,    NEW,    NEW,    NEW,    NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/webhooks/endpoints"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/webhooks/endpoints/<endpoint_id>"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NOTADM, NOTADM, NO_WHE),
    },
    ("PATCH", f"{API}/webhooks/endpoints/<endpoint_id>"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NOTADM, NOTADM, SCOPE),
    },
    ("DELETE", f"{API}/webhooks/endpoints/<endpoint_id>"): {
        OWN:       (NA,     GONE,   GONE,   GONE,   GONE,   GONE,   GONE,   NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/webhooks/endpoints/<endpoint_id>/secret-rotations"): {
        OWN:       (NA,     NEW,    NEW,    NEW,    NEW,    NEW,    NEW,    NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/webhooks/endpoints/<endpoint_id>/deliveries"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NOTADM, NOTADM, NO_WHE),
    },
    # The body names an event of the endpoint's owner.
    ("POST", f"{API}/webhooks/endpoints/<endpoint_id>/replays"): {
        OWN:       (NA,     QUEUED, QUEUED, QUEUED, QUEUED, QUEUED, QUEUED, NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NO_WHE, NOTADM, NOTADM, SCOPE),
    },
    ("GET", f"{API}/webhooks/events"): {
        NO_OBJECT: (UNAUTH, OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
    },
    ("GET", f"{API}/webhooks/events/<event_id>"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NA,     NOTADM, OK),
        FOREIGN:   (UNAUTH, NO_EVT, NO_EVT, NO_EVT, NO_EVT, NO_EVT, NO_EVT, NOTADM, NOTADM, NO_EVT),
    },
    # -- admission documents (主体资格), identities (实名制) and credit marks (信用标识) -----
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # An organisation's documents and the people behind it: its own users (an applicant or
    # a suspended one too: it renews them) read and submit them, the operator any
    # organisation's; regulators read anyone's and never write. Only the operator reviews.
    ("GET", f"{API}/organisations/<org_id>/documents"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, OK,     NO_ORG, NO_ORG, NO_ORG),
    },
    ("POST", f"{API}/organisations/<org_id>/documents"): {
        OWN:       (NA,     NEW,    NEW,    NEW,    NEW,    NEW,    ROLE,   NEW,    NEW,    SCOPE),
        FOREIGN:   (UNAUTH, NEW,    NO_ORG, NO_ORG, NO_ORG, NO_ORG, ROLE,   NO_ORG, NO_ORG, SCOPE),
    },
    ("POST", f"{API}/organisations/<org_id>/documents/<document_id>/review"): {
        OWN:       (NA,     OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
        FOREIGN:   (UNAUTH, OK,     ROLE,   ROLE,   ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, ROLE),
    },
    ("GET", f"{API}/organisations/<org_id>/identity"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK,     OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, OK,     NO_ORG, NO_ORG, NO_ORG),
    },
    # An applicant records its own; once admitted, only the operator records a change.
    ("PUT", f"{API}/organisations/<org_id>/identity"): {
        OWN:       (NA,     OK,     ID_LOCKED, ID_LOCKED, ID_LOCKED, ID_LOCKED, ROLE, OK,
                    ID_LOCKED, SCOPE),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, ROLE,   NO_ORG, NO_ORG, SCOPE),
    },
    # The credit mark is public (credentials are not looked at): a trading participant's
    # once the worker computed it (none yet here: 404), nobody's for the venue, assessors,
    # brokers, regulators and applicants, who carry none.
    ("GET", f"{API}/organisations/<org_id>/credit"): {
        OWN:       (NA,     NO_ORG, NO_MRK, NO_MRK, NO_ORG, NO_ORG, NO_ORG, NO_ORG, NO_MRK, NO_MRK),
        FOREIGN:   (NO_MRK, NO_MRK, NO_MRK, NO_MRK, NO_MRK, NO_MRK, NO_MRK, NO_MRK, NO_MRK, NO_MRK),
    },
    # -- signing keys and signed contracts (电子合同) ----------------------------------------
    #            anon    oper    merch   buyer   assess  broker  regul   applic  susp    read_only
    # An organisation's signing keys: its own users manage them (regulators never write);
    # the operator and regulators read anyone's, and the operator is told they are not its
    # own to manage. Own keys here are pending; regulators have none.
    ("GET", f"{API}/organisations/<org_id>/signing-keys"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     OK,     NOTADM, NOTADM, OK),
        FOREIGN:   (UNAUTH, OK,     NO_ORG, NO_ORG, NO_ORG, NO_ORG, OK,     NOTADM, NOTADM, NO_ORG),
    },
    ("POST", f"{API}/organisations/<org_id>/signing-keys"): {
        OWN:       (NA,     NEW,    NEW,    NEW,    NEW,    NEW,    ROLE,   NOTADM, NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NOT_OWN, NO_ORG, NO_ORG, NO_ORG, NO_ORG, ROLE,  NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/organisations/<org_id>/signing-keys/<signing_key_id>/verification"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NOT_OWN, NO_SKEY, NO_SKEY, NO_SKEY, NO_SKEY, ROLE, NOTADM, NOTADM,
                    SCOPE),
    },
    ("POST", f"{API}/organisations/<org_id>/signing-keys/<signing_key_id>/revocation"): {
        OWN:       (NA,     OK,     OK,     OK,     OK,     OK,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, NOT_OWN, NO_SKEY, NO_SKEY, NO_SKEY, NO_SKEY, ROLE, NOTADM, NOTADM,
                    SCOPE),
    },
    # The parties sign their order's contract with their own verified key (the order here
    # awaits payment), or decline; nobody else acts on it.
    ("POST", f"{API}/orders/<order_id>/contract/signatures"): {
        OWN:       (NA,     NA,     NEW,    NEW,    NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_ORD, NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
    ("POST", f"{API}/orders/<order_id>/contract/decline"): {
        OWN:       (NA,     NA,     NEW,    NEW,    NA,     NA,     NA,     NA,     NOTADM, SCOPE),
        FOREIGN:   (UNAUTH, ROLE,   NO_ORD, NO_ORD, ROLE,   ROLE,   ROLE,   NOTADM, NOTADM, SCOPE),
    },
}
# fmt: on

# Routes that are documentation, not API: flask-smorest's OpenAPI document and Swagger UI.
UNDECLARED_ENDPOINTS = {"static", "swagger_assets"}
# The console's pages are not API endpoints: their own matrix is tests/console/test_*_pages.py
# (checked complete by tests/console/test_console_matrix.py).
UNDECLARED_PREFIXES = ("api-docs.", "console.")
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


def _cases() -> list[Any]:
    """Every cell, collected so that cells running in the same world (see ``Shelf``) come
    one after another, in the order of the matrix."""
    cases: list[tuple[Any, Any]] = []
    for (method, rule), rows in MATRIX.items():
        for obj, row in rows.items():
            for caller, expected in zip(CALLERS, row, strict=True):
                if expected is NA:
                    continue
                label = f"{method} {rule} [{obj}] as {caller}"
                order = (_shared_part(method, rule, obj, caller).order(),
                         _world_key(method, rule, obj, caller), len(cases))
                cases.append((order, pytest.param(method, rule, obj, caller, expected,
                                                  id=label)))
    return [case for _, case in sorted(cases, key=lambda c: c[0])]


# -- the world a matrix cell runs in ---------------------------------------------------


@dataclass(frozen=True)
class World:
    observer: Party  # an operator, distinct from every caller, who inspects the aftermath
    target: Party  # the foreign organisation: an admitted merchant nobody else belongs to
    caller: Party | None  # None for the anonymous caller
    # Rights objects by path parameter (resource_id, right_id, grant_id, dispute_id, number,
    # product_id): the caller's own (also what a request body names) and the target's.
    own: dict[str, str] = field(default_factory=dict)
    foreign: dict[str, str] = field(default_factory=dict)


def _read_only_key_of(client: FlaskClient, owner: Party) -> Party:
    created = client.post(f"{API}/keys", json={"name": "read only", "scopes": ["read"]},
                          headers=owner.headers)
    assert created.status_code == 201, created.get_json()
    assert created.json["scopes"] == ["read"]
    return Party(owner.org_id, owner.user_id, created.json["id"], created.json["token"],
                 owner.roles)


@pytest.fixture
def make_caller(
    client: FlaskClient, make_party: Callable[..., Party]
) -> Callable[[str], Party | None]:
    def make(name: str) -> Party | None:
        if name == "anonymous":
            return None
        if name == "applicant":
            return make_party("buyer", status="applied")
        if name == "suspended":
            return make_party("merchant", status="suspended")
        if name == "read_only":
            return _read_only_key_of(client, make_party("merchant"))
        return make_party(name)

    return make


# What a rights endpoint is called on, built for the owner before the request: a resource
# (with source-legality evidence), a dispute over one, a holding right submitted, claimed
# for review, registered (with its certificate), a product operation right resting on one,
# or a grant of one. POST /rights and /grants name the caller's resource or holding right.
RIGHTS_OBJECTS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/rights"): "resource",
    ("POST", f"{API}/grants"): "registered",
    ("GET", f"{API}/resources/<resource_id>"): "resource",
    ("POST", f"{API}/resources/<resource_id>/evidence"): "resource",
    ("POST", f"{API}/resources/<resource_id>/disputes"): "resource",
    ("GET", f"{API}/resources/<resource_id>/disputes"): "dispute",
    ("POST", f"{API}/resources/<resource_id>/disputes/<dispute_id>/resolution"): "dispute",
    ("GET", f"{API}/rights/<right_id>"): "submitted",
    ("GET", f"{API}/rights/<right_id>/history"): "submitted",
    ("POST", f"{API}/rights/<right_id>/evidence"): "submitted",
    ("POST", f"{API}/rights/<right_id>/review-claims"): "submitted",
    ("POST", f"{API}/rights/<right_id>/reviews"): "claimed",
    ("POST", f"{API}/rights/<right_id>/status-changes"): "registered",
    ("GET", f"{API}/products/<product_id>/rights-chain"): "product",
    ("GET", f"{API}/grants/<grant_id>"): "grant",
    ("POST", f"{API}/grants/<grant_id>/revoke"): "grant",
    ("GET", f"{API}/certificates/<number>"): "registered",
    ("GET", f"{API}/certificates/<number>/verification"): "registered",
    ("GET", f"{API}/public-data/authorisations/<authorisation_id>"): "public authorisation",
    ("POST", f"{API}/public-data/authorisations/<authorisation_id>/revoke"):
        "public authorisation",
}
# What a listing endpoint is called on: a product (on the owner's product operation right)
# drafted, submitted, claimed for review, listed, or listed with a sample. POST /products
# names the caller's product operation right.
LISTING_OBJECTS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/products"): "product",
    ("GET", f"{API}/products/<product_id>"): "product draft",
    ("PUT", f"{API}/products/<product_id>"): "product draft",
    ("POST", f"{API}/products/<product_id>/submission"): "product draft",
    ("POST", f"{API}/products/<product_id>/review-claims"): "product submitted",
    ("POST", f"{API}/products/<product_id>/reviews"): "product claimed",
    ("POST", f"{API}/products/<product_id>/status-changes"): "product listed",
    ("GET", f"{API}/products/<product_id>/history"): "product draft",
    ("GET", f"{API}/catalog/<product_id>"): "product listed",
    ("GET", f"{API}/catalog/<product_id>/sample"): "product sample",
    ("GET", f"{API}/catalog/<product_id>/dcat.jsonld"): "product listed",
    ("GET", f"{API}/catalog/<product_id>/terms.jsonld"): "product listed",
    ("GET", f"{API}/products/<product_id>/distribution"): "product listed",
    ("PUT", f"{API}/products/<product_id>/distribution"): "product listed",
}
# Compliance endpoints are called on the declaration and decision of a submitted product.
COMPLIANCE_OBJECTS: dict[tuple[str, str], str] = {
    ("GET", f"{API}/declarations/<declaration_id>"): "product submitted",
    ("POST", f"{API}/declarations/<declaration_id>/breaches"): "product submitted",
    ("GET", f"{API}/decisions/<decision_id>"): "product submitted",
    ("GET", f"{API}/filings/<filing_id>"): "filing",
    ("GET", f"{API}/alerts/<alert_id>"): "alert",
    ("GET", f"{API}/reviews/<item_id>"): "product submitted",
    ("POST", f"{API}/reviews/<item_id>/reports"): "product submitted",
    ("POST", f"{API}/alerts/<alert_id>/dispositions"): "alert",
}
# What a trading or settlement endpoint is called on (see ``Trades``): an order of a listed
# product, waiting for review, awaiting payment, paid, delivered (a file) or settled; a
# pay-per-use order delivered by API (metered); an API credential; a download link; a
# dispute, open or answered; an account; a payout, or a sale whose proceeds are payable;
# the contract receipt of an order awaiting payment, once sequenced into the log, or its
# proof bundle, or the log itself (named by its suite). POST /orders names the listed
# product and its offer; POST /receipts/verification the bundle.
TRADING_OBJECTS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/orders"): "listed",
    ("GET", f"{API}/orders/<order_id>"): "awaiting payment",
    ("GET", f"{API}/orders/<order_id>/contract"): "awaiting payment",
    ("GET", f"{API}/orders/<order_id>/commitment"): "awaiting payment",
    ("GET", f"{API}/orders/<order_id>/history"): "awaiting payment",
    ("GET", f"{API}/orders/<order_id>/ledger"): "paid",
    ("POST", f"{API}/orders/<order_id>/refunds"): "settled",
    ("GET", f"{API}/orders/<order_id>/refunds"): "settled",
    ("GET", f"{API}/subscriptions/<subscription_id>"): "subscription",
    ("GET", f"{API}/subscriptions/<subscription_id>/history"): "subscription",
    ("GET", f"{API}/subscriptions/<subscription_id>/terms"): "subscription",
    ("PATCH", f"{API}/subscriptions/<subscription_id>"): "subscription",
    ("POST", f"{API}/subscriptions/<subscription_id>/terms-acceptance"): "subscription",
    ("POST", f"{API}/orders/<order_id>/review"): "in review",
    ("POST", f"{API}/orders/<order_id>/cancellation"): "awaiting payment",
    ("POST", f"{API}/orders/<order_id>/payment"): "awaiting payment",
    ("POST", f"{API}/orders/<order_id>/card-payment"): "awaiting payment",
    ("GET", f"{API}/orders/<order_id>/card-payment"): "card requested",
    ("GET", f"{API}/payments/connect-account"): "connect account",
    ("POST", f"{API}/orders/<order_id>/deliveries"): "paid",
    ("POST", f"{API}/orders/<order_id>/deliveries/file"): "paid",
    ("POST", f"{API}/orders/<order_id>/usage"): "metered",
    ("GET", f"{API}/orders/<order_id>/usage"): "metered",
    ("POST", f"{API}/orders/<order_id>/download-tokens"): "delivered",
    ("GET", f"{API}/downloads/<token>"): "download",
    ("POST", f"{API}/orders/<order_id>/acceptance"): "delivered",
    ("POST", f"{API}/orders/<order_id>/disputes"): "delivered",
    ("POST", f"{API}/orders/<order_id>/destruction-declaration"): "delivered",
    ("GET", f"{API}/orders/<order_id>/destruction-request"): "delivered",
    ("GET", f"{API}/disputes/<dispute_id>"): "disputed",
    ("POST", f"{API}/disputes/<dispute_id>/answer"): "disputed",
    ("POST", f"{API}/disputes/<dispute_id>/decision"): "answered",
    ("POST", f"{API}/disputes/<dispute_id>/escalation"): "decided",
    ("POST", f"{API}/disputes/<dispute_id>/escalation-waiver"): "decided",
    ("GET", f"{API}/disputes/<dispute_id>/evidence-bundle"): "decided",
    ("POST", f"{API}/disputes/<dispute_id>/award"): "escalated",
    ("POST", f"{API}/api-credentials/verification"): "credential",
    ("GET", f"{API}/ledger/accounts/<account_id>"): "account",
    ("GET", f"{API}/ledger/accounts/<account_id>/statement"): "account",
    ("POST", f"{API}/payouts"): "payable",
    ("GET", f"{API}/payouts/<payout_id>"): "payout",
    ("POST", f"{API}/payouts/<payout_id>/confirmation"): "payout",
    ("POST", f"{API}/payouts/<payout_id>/rejection"): "payout",
    ("GET", f"{API}/regulator/orders/<order_id>"): "settled",
    ("GET", f"{API}/receipts/<receipt_id>"): "contract receipt",
    ("GET", f"{API}/receipts/<receipt_id>/proof"): "contract receipt",
    ("POST", f"{API}/receipts/verification"): "bundle",
    ("GET", f"{API}/receipts/logs/<suite>/checkpoint"): "log",
    ("GET", f"{API}/receipts/logs/<suite>/consistency"): "log",
    ("POST", f"{API}/orders/<order_id>/contract/signatures"): "contract to sign",
    ("POST", f"{API}/orders/<order_id>/contract/decline"): "awaiting payment",
}
# What a matching endpoint is called on (see ``Deals``): a public demand of a buyer (posted
# by a broker for it when the caller is that broker), answered with the caller's own listed
# product (``demand to answer``; merchants) or with the target's listed product (brokers'
# proposals); a negotiation on a listed product, requested by its buyer, offered by its
# merchant, countered by its buyer, or proposed by a broker for a demand; ``their turn`` is
# the merchant's offer to a buyer and the buyer's counter to a merchant (foreign: offered);
# a merchant's capability; a buyer's saved search. POST /demands names, for a broker, a
# ``client`` buyer; POST /negotiations names the target's listed product.
MATCHING_OBJECTS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/demands"): "client",
    ("GET", f"{API}/demands/<demand_id>"): "demand",
    ("GET", f"{API}/demands/<demand_id>/history"): "demand",
    ("GET", f"{API}/demands/<demand_id>/matches"): "demand",
    ("PATCH", f"{API}/demands/<demand_id>"): "demand",
    ("POST", f"{API}/demands/<demand_id>/closure"): "demand",
    ("POST", f"{API}/demands/<demand_id>/answers"): "demand to answer",
    ("POST", f"{API}/demands/<demand_id>/proposals"): "demand",
    ("POST", f"{API}/negotiations"): "listed",
    ("GET", f"{API}/negotiations/<negotiation_id>"): "requested",
    ("GET", f"{API}/negotiations/<negotiation_id>/history"): "requested",
    ("POST", f"{API}/negotiations/<negotiation_id>/offers"): "requested",
    ("POST", f"{API}/negotiations/<negotiation_id>/counters"): "their turn",
    ("POST", f"{API}/negotiations/<negotiation_id>/agreement"): "their turn",
    ("POST", f"{API}/negotiations/<negotiation_id>/acceptance"): "proposed",
    ("POST", f"{API}/negotiations/<negotiation_id>/decline"): "requested",
    ("POST", f"{API}/negotiations/<negotiation_id>/withdrawal"): "proposed",
    ("POST", f"{API}/supply/capabilities/<capability_id>/withdrawal"): "capability",
    ("DELETE", f"{API}/saved-searches/<search_id>"): "saved search",
}
# Foreign matching objects are the same whoever calls: the demand (answered or not) and the
# negotiation offered by its merchant (whose turn is its buyer's) are shared.
FOREIGN_MATCHING = {"demand to answer": "demand", "their turn": "offered"}
MATCHING_PREFIXES = (f"{API}/demands", f"{API}/negotiations", f"{API}/supply",
                     f"{API}/saved-searches")
# Webhook objects: an endpoint (with an event of its owner, which a replay names) or an
# event, the caller's own or the target's.
WEBHOOK_OBJECTS: dict[tuple[str, str], str] = {
    (method, f"{API}/webhooks/endpoints/<endpoint_id>{tail}"): "endpoint"
    for method, tail in (("GET", ""), ("PATCH", ""), ("DELETE", ""),
                         ("POST", "/secret-rotations"), ("GET", "/deliveries"),
                         ("POST", "/replays"))
} | {("GET", f"{API}/webhooks/events/<event_id>"): "endpoint"}
# Signing-key objects: a pending key (with its holder's signature of its challenge, which a
# verification names) of the caller's organisation or of the target.
SIGNING_KEY_OBJECTS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/organisations/<org_id>/signing-keys/<signing_key_id>/{action}"):
        "signing key" for action in ("verification", "revocation")}
# Admission-document objects: a submitted document of the caller's organisation or of the
# target.
DOCUMENT_OBJECTS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/organisations/<org_id>/documents/<document_id>/review"): "document"}
OBJECTS = {**RIGHTS_OBJECTS, **LISTING_OBJECTS, **COMPLIANCE_OBJECTS, **TRADING_OBJECTS,
           **MATCHING_OBJECTS, **WEBHOOK_OBJECTS, **SIGNING_KEY_OBJECTS, **DOCUMENT_OBJECTS}
# Media types of successful answers other than JSON.
MEDIA_TYPES = {
    ("GET", f"{API}/catalog/<product_id>/sample"): "text/plain",
    ("GET", f"{API}/catalog/<product_id>/dcat.jsonld"): "application/ld+json",
    ("GET", f"{API}/catalog/<product_id>/terms.jsonld"): "application/ld+json",
    ("GET", f"{API}/catalog.jsonld"): "application/ld+json",
    ("GET", f"{API}/regulator/filings/export"): "text/csv",
    ("GET", f"{API}/downloads/<token>"): "text/csv",
}
# Allowed POSTs that only read, and so leave no audit entry.
READING_POSTS = {("POST", f"{API}/api-credentials/verification"),
                 ("POST", f"{API}/receipts/verification")}
# Query strings of reads that need one.
QUERIES = {
    ("GET", f"{API}/ledger/accounts/<account_id>/statement"): {
        "from": "2026-01-01T00:00:00+00:00", "to": "2027-01-01T00:00:00+00:00"},
    ("GET", f"{API}/receipts/logs/<suite>/consistency"): {"first": 1, "second": 1},
}
HOLDERS = ("merchant", "suspended", "read_only")  # callers that hold rights objects
REVIEWERS = ("operator", "assessor")
MATRIX_SCOPE = {"purposes": ["matrix"], "scenarios": ["matrix"], "territory": "domestic"}


def _evidence(kind: str) -> dict[str, Any]:
    content = f"matrix {kind} evidence".encode()
    return {"kind": kind, "name": f"{kind}.txt", "media_type": "text/plain",
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode()}


def _off_exchange_body(counterparty_org_id: str) -> dict[str, Any]:
    return {"role": "seller", "counterparty_org_id": counterparty_org_id,
            "product_title": "场外矩阵数据", "sector": "matrix", "product_type": "dataset",
            "amount": 100, "currency": "CNY", "concluded_at": "2026-11-01T00:00:00+00:00",
            "evidence_sha256": ["ab" * 32]}


def _resource_body(sensitive: bool = False) -> dict[str, Any]:
    """A resource; a ``sensitive`` one holds sensitive personal information (with consent
    on record), so the rules send every order of a product made from it to review."""
    body = {"title": "矩阵测试数据", "description": "authorization matrix",
            "origin": "enterprise", "classification": "general", "pi_level": "none",
            "collection_method": "自有系统日志", "collection_source": "自有业务系统",
            "scenarios": ["matrix"], "update_frequency": "daily",
            "evidence": [_evidence("source_legality")]}
    if sensitive:
        body.update(pi_level="sensitive_personal",
                    evidence=[_evidence("source_legality"), _evidence("consent")])
    return body


def _holding_body(resource_id: str) -> dict[str, Any]:
    return {"kind": "resource_holding", "resource_id": resource_id,
            "valid_from": "2026-01-01T00:00:00+00:00", **MATRIX_SCOPE}


def _grant_body(holding_right_id: str, grantee_org_id: str) -> dict[str, Any]:
    return {"holding_right_id": holding_right_id, "grantee_org_id": grantee_org_id,
            "valid_from": "2026-11-01T00:00:00+00:00", "valid_to": "2027-11-01T00:00:00+00:00",
            **MATRIX_SCOPE}


def _authorisation_body(org_id: str) -> dict[str, Any]:
    return {"org_id": org_id, "categories": ["matrix"], "scenarios": ["matrix"],
            "valid_from": "2026-01-01T00:00:00+00:00", "valid_to": "2027-12-31T00:00:00+00:00",
            "qualification": "matrix", "reputation": "matrix",
            "evidence": [{"kind": kind, "name": f"{kind}.pdf", "sha256": "cd" * 32}
                         for kind in ("qualification", "reputation")]}


ONE_TIME = {"name": "matrix", "kind": "one_time", "amount": 100}
PAY_PER_USE = {"name": "matrix", "kind": "pay_per_use", "amount": 1, "unit": "call",
               "cap_amount": 100}
SUBSCRIPTION = {"name": "matrix", "kind": "subscription", "amount": 100, "period": "month"}


def _product_body(resource_id: str, product_id: str | None = None, sample: bool = False,
                  modes: tuple[str, ...] = ("file",),
                  offer: dict[str, Any] = ONE_TIME) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "矩阵产品", "description": "authorization matrix", "type": "dataset",
        "development_level": "modelled", "sector": "matrix", "region": "matrix",
        "update_frequency": "daily", "scenarios": ["matrix"], "delivery_modes": list(modes),
        "derived_from": [resource_id], "terms": {"purposes": ["matrix"],
                                                 "scenarios": ["matrix"]},
        "offers": [offer],
    }
    if product_id is not None:
        body["product_id"] = product_id
    if sample:
        body["sample"] = {"name": "matrix.txt", "media_type": "text/plain",
                          "content_base64": base64.b64encode(b"matrix sample").decode()}
    return body


DECLARATION = {"statement": "matrix", "source_is_lawful": True,
               "source_basis": "self_collected", "contains_personal_information": False,
               "personal_information_basis": "none", "contains_important_data": False,
               "contains_core_data": False, "cross_border": False,
               "third_party_rights_cleared": True, "security_measures": ["encryption"],
               "scenarios": ["matrix"], "onward_transfer_commitment": True}


@dataclass(frozen=True)
class Estates:
    """Builds rights objects over HTTP; the observing operator reviews and disputes."""

    client: FlaskClient
    observer: Party

    def _post(self, party: Party, path: str, body: Any, expect: int = 201) -> dict[str, Any]:
        response = self.client.post(f"{API}{path}", json=body, headers=party.headers)
        assert response.status_code == expect, response.get_json()
        return dict(response.json)

    def build(self, need: str, *, holder: Party, claimer: Party, grantee: Party,
              sensitive: bool = False) -> dict[str, str]:
        if need.startswith("product "):
            return self._product(need, holder=holder, claimer=claimer, grantee=grantee,
                                 sensitive=sensitive)
        if need == "filing":
            return {"filing_id": self._post(holder, "/filings",
                                            _off_exchange_body(grantee.org_id))["id"]}
        if need == "public authorisation":  # the observing operator authorises the holder
            return {"authorisation_id": self._post(self.observer, "/public-data/authorisations",
                                                   _authorisation_body(holder.org_id))["id"]}
        if need == "alert":  # trading both ways with one counterparty: CircularTrading
            self._post(holder, "/filings", _off_exchange_body(grantee.org_id))
            self._post(holder, "/filings", {**_off_exchange_body(grantee.org_id),
                                            "role": "buyer"})
            found = self.client.get(f"{API}/alerts?rule=CircularTrading&limit=200",
                                    headers=self.observer.headers)
            assert found.status_code == 200, found.get_json()
            (alert,) = [a for a in found.json["items"] if holder.org_id in a["org_ids"]]
            return {"alert_id": alert["id"]}
        ids = {"resource_id": self._post(holder, "/resources",
                                         _resource_body(sensitive))["id"]}
        if need == "dispute":
            ids["dispute_id"] = self._post(self.observer,
                                           f"/resources/{ids['resource_id']}/disputes",
                                           {"claimant_org_id": self.observer.org_id,
                                            "reason": "matrix dispute"})["id"]
        if need in ("resource", "dispute"):
            return ids
        ids["right_id"] = self._post(holder, "/rights", _holding_body(ids["resource_id"]))["id"]
        if need == "submitted":
            return ids
        right = self._review(ids["right_id"], claimer if need == "claimed" else self.observer,
                             decide=need != "claimed")
        if need == "claimed":
            return ids
        ids["number"] = right["certificate_number"]
        if need == "product":
            product = self._post(holder, "/rights", {
                "kind": "product_operation", "product_title": "矩阵产品",
                "parent_ids": [ids["right_id"]], "valid_from": "2026-11-01T00:00:00+00:00",
                **MATRIX_SCOPE})
            ids["product_id"] = self._review(product["id"], self.observer)["product_id"]
        ids["grantee"] = grantee.org_id
        if need == "grant":
            ids["grant_id"] = self._post(holder, "/grants",
                                         _grant_body(ids["right_id"], grantee.org_id))["id"]
        return ids

    def _product(self, need: str, *, holder: Party, claimer: Party, grantee: Party,
                 sensitive: bool = False) -> dict[str, str]:
        """A product on the holder's product operation right, taken as far as ``need``.
        Products made for trading (``product for trade``) are delivered by file or API;
        ``product for metering`` is sold pay-per-use, by API."""
        ids = self.build("product", holder=holder, claimer=claimer, grantee=grantee,
                         sensitive=sensitive)
        product_id = ids["product_id"]
        modes, offer = {"product for trade": (("file", "api"), ONE_TIME),
                        "product for metering": (("api",), PAY_PER_USE),
                        "product for subscription": (("file",), SUBSCRIPTION)}.get(
                            need, (("file",), ONE_TIME))
        if sensitive:  # the delivery matrix: sensitive personal information by sandbox only
            modes = ("sandbox",)
        self._post(holder, "/products", _product_body(ids["resource_id"], product_id,
                                                      sample=need == "product sample",
                                                      modes=modes, offer=offer))
        if need == "product draft":
            return ids
        declaration = {**DECLARATION, "contains_personal_information": True,
                       "personal_information_basis": "consent"} if sensitive else DECLARATION
        submitted = self._post(holder, f"/products/{product_id}/submission",
                               {"declaration": declaration}, 200)
        version_id = submitted["latest"]["id"]
        for kind in ("declaration", "decision"):
            listed = self.client.get(f"{API}/{kind}s?subject_id={version_id}",
                                     headers=self.observer.headers)
            assert listed.status_code == 200, listed.get_json()
            (item,) = listed.json["items"]
            ids[f"{kind}_id"] = item["id"]
        queue = self.client.get(f"{API}/reviews?status=open&limit=200",
                                headers=self.observer.headers)
        assert queue.status_code == 200, queue.get_json()
        (review,) = [r for r in queue.json["items"] if r["subject_id"] == version_id]
        ids["item_id"] = review["id"]
        if need == "product submitted":
            return ids
        reviewer = claimer if need == "product claimed" else self.observer
        self._post(reviewer, f"/products/{product_id}/review-claims", None, 200)
        if need == "product claimed":
            return ids
        listed = self._post(reviewer, f"/products/{product_id}/reviews",
                            {"decision": "list", "reason": "matrix"}, 200)
        if sensitive:  # 双重审核: listed by the approval of a second, different reviewer
            second = self._colleague(reviewer, product_id)
            self._post(second, f"/products/{product_id}/review-claims", None, 200)
            listed = self._post(second, f"/products/{product_id}/reviews",
                                {"decision": "list", "reason": "matrix"}, 200)
        assert listed["listed"]["status"] == "listed", listed
        ids["offer_id"] = listed["listed"]["offers"][0]["id"]
        return ids

    def _colleague(self, party: Party, tag: str) -> Party:
        """Another user of ``party``'s organisation, with an API key of its own."""
        user = self._post(party, f"/participants/{party.org_id}/users",
                          {"name": "matrix colleague", "email": f"{tag.lower()}@example.cn"})
        key = self._post(party, "/keys", {"name": "matrix colleague", "user_id": user["id"]})
        return Party(party.org_id, user["id"], key["id"], key["token"], party.roles)

    def _review(self, right_id: str, reviewer: Party, decide: bool = True) -> dict[str, Any]:
        right = self._post(reviewer, f"/rights/{right_id}/review-claims", None, 200)
        if decide:
            right = self._post(reviewer, f"/rights/{right_id}/reviews",
                               {"decision": "approve", "reason": "matrix"}, 200)
            assert right["status"] == "registered", right
        return right


COMMITMENT = {"purpose": "matrix", "purposes": ["matrix"], "scenarios": ["matrix"],
              "cross_border": False,
              "security_measures": ["encryption"], "no_onward_transfer": True,
              "no_reidentification": True}
DELIVERED = b"id,score\n1,0.9\n"
BANK_ACCOUNT = {"holder": "矩阵公司", "bank": "矩阵银行", "number": "6222 0000 0000 0001"}
PAYOUT = {"amount": 5, "currency": "CNY", "bank_account": BANK_ACCOUNT}


def _file_form() -> dict[str, Any]:
    return {"file": (io.BytesIO(DELIVERED), "matrix.csv", "text/csv"), "note": "matrix"}


@dataclass(frozen=True)
class Trades:
    """Builds trading and settlement objects over HTTP: the seller lists a product (made for
    trade), the observing operator records top-ups, a buyer orders, pays, takes a download
    link, accepts or disputes, the seller delivers and answers, payouts are asked for. The
    receipts log is sequenced through the services, as the sequencer does."""

    estates: Estates
    make_party: Callable[..., Party]
    system_uow: Callable[[], UnitOfWork]

    @property
    def observer(self) -> Party:
        return self.estates.observer

    def _post(self, party: Party, path: str, body: Any = None, expect: int = 201,
              ) -> dict[str, Any]:
        return self.estates._post(party, path, body, expect)

    def build(self, need: str, *, seller: Party, owner: Party | None) -> dict[str, str]:
        """``need`` between ``seller`` and a buyer: ``owner`` when it is a buyer, otherwise a
        new one. Accounts are the owner's (a top-up recorded for it); a payout (or what
        is ``payable``) comes from a sale: the owner's own, or the seller's with a broker's
        share for the owner."""
        if need in ("contract receipt", "bundle", "log"):
            return self.receipt(need, seller=seller, owner=owner)
        if need == "contract to sign":
            return self.contract_to_sign(seller=seller, owner=owner)
        if need == "account":
            assert owner is not None
            self.top_up(owner, 1_000)
            found = self.estates.client.get(
                f"{API}/ledger/accounts?owner={owner.org_id}&kind=available",
                headers=self.observer.headers)
            assert found.status_code == 200, found.get_json()
            (account,) = found.json["items"]
            return {"account_id": account["id"]}
        if need == "connect account":  # a payee's own, asked for
            if owner is not None and {"merchant", "broker"} & set(owner.roles):
                self._post(owner, "/payments/connect-account", CONNECT_ACCOUNT, 202)
            return {}
        if need in ("payable", "payout"):
            if owner is None or not {"merchant", "broker"} & set(owner.roles):
                return {}
            ids = self.sale(seller, broker=None if owner == seller else owner)
            if need == "payout":
                ids["payout_id"] = self._post(owner, "/payouts", PAYOUT)["id"]
            return ids
        product = {"metered": "product for metering",
                   "subscription": "product for subscription"}.get(need, "product for trade")
        ids = self.estates.build(product, holder=seller, claimer=self.observer,
                                 grantee=seller, sensitive=need == "in review")
        if need == "listed":
            return ids
        buyer = owner if owner is not None and "buyer" in owner.roles else self.make_party(
            "buyer", name="matrix buyer")
        return {**ids, **self.order(need, ids, seller=seller, buyer=buyer)}

    def contract_to_sign(self, *, seller: Party, owner: Party | None) -> dict[str, str]:
        """An order awaiting payment whose contract the owner (its seller or its buyer)
        signs: the owner's verified key and its signature of the contract's digest."""
        ids = self.build("awaiting payment", seller=seller, owner=owner)
        if owner is None or not {"buyer", "merchant"} & set(owner.roles):
            return ids
        account = Account.create()
        key = _pending_key(self.estates.client, owner, account)
        self._post(owner, f"/organisations/{owner.org_id}/signing-keys/"
                          f"{key['signing_key_id']}/verification",
                   {"signature": key["key_signature"]}, 200)
        found = self.estates.client.get(f"{API}/orders/{ids['order_id']}",
                                        headers=self.observer.headers)
        assert found.status_code == 200, found.get_json()
        signed = account.sign_message(encode_defunct(text=found.json["contract_sha256"]))
        return {**ids, "signing_key_id": key["signing_key_id"],
                "contract_signature": signed.signature.to_0x_hex()}

    def receipt(self, need: str, *, seller: Party, owner: Party | None) -> dict[str, str]:
        """The contract receipt of an order awaiting payment, sequenced into the log (which
        signs a checkpoint of it): the order with its receipt, with the receipt's proof
        bundle (JSON) for a ``bundle``, or the log, by its suite."""
        client, observer = self.estates.client, self.observer
        ids = self.build("awaiting payment", seller=seller, owner=owner)
        order = client.get(f"{API}/orders/{ids['order_id']}", headers=observer.headers)
        assert order.status_code == 200, order.get_json()
        (receipt,) = [r for r in order.json["receipts"] if r["kind"] == "order.contract"]
        appended = receipts.sequence(self.system_uow())
        assert appended.checkpoint_id is not None, appended
        if need == "log":
            return {"suite": appended.suite}
        ids["receipt_id"] = receipt["id"]
        if need == "bundle":
            proof = client.get(f"{API}/receipts/{receipt['id']}/proof",
                               headers=observer.headers)
            assert proof.status_code == 200, proof.get_json()
            assert proof.json["log"] is not None, proof.json
            ids["bundle"] = json.dumps(proof.json)
        return ids

    def top_up(self, party: Party, amount: int) -> None:
        self._post(self.observer, "/ledger/top-ups", {
            "org_id": party.org_id, "amount": amount, "currency": "CNY",
            "reference": f"MATRIX-{party.org_id}-{amount}"})

    def order(self, need: str, listed: dict[str, str], *, seller: Party,
              buyer: Party) -> dict[str, str]:
        """An order of the listed product taken as far as ``need``."""
        self.top_up(buyer, 10_000)
        order_id = self._post(buyer, "/orders", {
            "product_id": listed["product_id"], "offer_id": listed["offer_id"],
            "commitment": COMMITMENT})["id"]
        ids = {"order_id": order_id}
        if need in ("in review", "awaiting payment"):
            return ids
        if need == "card requested":
            self._post(buyer, f"/orders/{order_id}/card-payment", None, 202)
            return ids
        self._post(buyer, f"/orders/{order_id}/payment", None, 200)
        if need == "paid":
            return ids
        if need in ("credential", "metered"):
            ids["credential"] = self._post(seller, f"/orders/{order_id}/deliveries", {
                "mode": "api", "endpoint": "https://api.example.cn/matrix"})["credential"]
            return ids
        delivered = self.estates.client.post(
            f"{API}/orders/{order_id}/deliveries/file", data=_file_form(),
            content_type="multipart/form-data", headers=seller.headers)
        assert delivered.status_code == 201, delivered.get_json()
        if need == "delivered":
            return ids
        if need == "subscription":  # its first period started with the delivery
            subscription_id = delivered.json["order"]["subscription_id"]
            assert subscription_id, delivered.json
            return {**ids, "subscription_id": subscription_id}
        if need == "download":
            ids["token"] = self._post(buyer, f"/orders/{order_id}/download-tokens")["token"]
            return ids
        if need == "settled":
            self._post(buyer, f"/orders/{order_id}/acceptance", {}, 200)
            return ids
        ids["dispute_id"] = self._post(buyer, f"/orders/{order_id}/disputes",
                                       {"reason": "matrix dispute"})["id"]
        if need in ("answered", "decided", "escalated"):
            self._post(seller, f"/disputes/{ids['dispute_id']}/answer",
                       {"answer": "matrix answer"}, 200)
        if need in ("decided", "escalated"):  # within the escalation window
            self._post(self.observer, f"/disputes/{ids['dispute_id']}/decision",
                       {"outcome": "release", "reason": "matrix decision"}, 200)
        if need == "escalated":
            self._post(buyer, f"/disputes/{ids['dispute_id']}/escalation",
                       {"institution": "武汉仲裁委员会", "reason": "matrix escalation"}, 200)
        return ids

    def sale(self, seller: Party, *, broker: Party | None = None) -> dict[str, str]:
        """A settled sale of the seller's product; a broker takes a tenth of it."""
        ids = self.estates.build("product for trade", holder=seller, claimer=self.observer,
                                 grantee=seller)
        if broker is not None:
            shared = self.estates.client.put(
                f"{API}/products/{ids['product_id']}/distribution", headers=seller.headers,
                json={"shares": [{"role": "merchant", "org_id": seller.org_id, "bps": 9_000},
                                 {"role": "broker", "org_id": broker.org_id, "bps": 1_000}]})
            assert shared.status_code == 200, shared.get_json()
        buyer = self.make_party("buyer", name="matrix buyer")
        return {**ids, **self.order("settled", ids, seller=seller, buyer=buyer)}


USE = {"purposes": ["matrix"], "scenarios": ["matrix"]}  # what the matrix listings allow
DEMAND = {"title": "矩阵需求", "description": "authorization matrix", "sector": "finance",
          "purpose": "matrix", **USE, "deadline": (START + timedelta(days=30)).isoformat(),
          "budget_max": 1_000}
CAPABILITY = {"title": "矩阵数据加工", "description": "authorization matrix",
              "sector": "finance"}
SAVED_SEARCH = {"name": "矩阵", "q": "矩阵"}


@dataclass(frozen=True)
class Deals:
    """Builds matching objects over HTTP: a merchant lists a product, a buyer posts a public
    demand (or a broker for it), asks for a quote on a listed product or has a broker
    propose one for its demand, which both parties accept; the merchant offers, the buyer
    counters; merchants declare capabilities, buyers save searches."""

    estates: Estates
    make_party: Callable[..., Party]

    def _post(self, party: Party, path: str, body: Any = None, expect: int = 201,
              ) -> dict[str, Any]:
        return self.estates._post(party, path, body, expect)

    def listed(self, merchant: Party) -> dict[str, str]:
        ids = self.estates.build("product listed", holder=merchant,
                                 claimer=self.estates.observer, grantee=merchant)
        return {"product_id": ids["product_id"], "offer_id": ids["offer_id"]}

    def demand(self, buyer: Party, *, broker: Party | None = None) -> str:
        """A public demand of ``buyer``, posted by itself or by ``broker`` for it."""
        if broker is None:
            return str(self._post(buyer, "/demands", DEMAND)["id"])
        return str(self._post(broker, "/demands",
                              {**DEMAND, "buyer_org_id": buyer.org_id})["id"])

    def negotiation(self, need: str, *, buyer: Party, merchant: Party, product_id: str,
                    broker: Party | None = None) -> dict[str, str]:
        """A negotiation on the merchant's listed product taken as far as ``need``
        (proposed, requested, offered, countered): the buyer's quote request or, with a
        broker (always for ``proposed``), the broker's proposal for the buyer's demand,
        which both parties accept."""
        if need == "proposed" and broker is None:
            broker = self.make_party("broker", name="matrix broker")
        if broker is None:
            ids = {"negotiation_id": self._post(buyer, "/negotiations", {
                "product_id": product_id, "terms": USE})["id"]}
        else:
            demand_id = self.demand(buyer)
            ids = {"demand_id": demand_id, "negotiation_id": self._post(
                broker, f"/demands/{demand_id}/proposals",
                {"product_id": product_id, "commission_bps": 500})["id"]}
            if need == "proposed":
                return ids
            for party in (buyer, merchant):
                self._post(party, f"/negotiations/{ids['negotiation_id']}/acceptance",
                           None, 200)
        if need == "requested":
            return ids
        self._post(merchant, f"/negotiations/{ids['negotiation_id']}/offers",
                   {"terms": {"amount": 100}}, 200)
        if need == "offered":
            return ids
        assert need == "countered", need
        self._post(buyer, f"/negotiations/{ids['negotiation_id']}/counters",
                   {"terms": {"amount": 80}}, 200)
        return ids

    def shared(self, need: str, *, target: Party) -> dict[str, str]:
        """What a body names (``client``, ``listed``) or a foreign object: the target's
        listed product, capability, negotiation (with a new buyer), or a new buyer's demand
        or saved search."""
        if need == "client":
            return {"buyer_org_id": self.make_party("buyer", name="client buyer").org_id}
        if need == "capability":
            return {"capability_id": self._post(target, "/supply/capabilities",
                                                CAPABILITY)["id"]}
        buyer = self.make_party("buyer", name="foreign buyer")
        if need == "saved search":
            return {"search_id": self._post(buyer, "/saved-searches", SAVED_SEARCH)["id"]}
        listed = self.listed(target)
        if need == "listed":
            return listed
        if need == "demand":
            return {**listed, "demand_id": self.demand(buyer)}
        return {**listed, **self.negotiation(need, buyer=buyer, merchant=target,
                                             product_id=listed["product_id"])}

    def own(self, need: str, *, caller: str, party: Party, target: Party,
            listed: dict[str, str]) -> dict[str, str]:
        """The caller's own: its demand (a broker's is posted for a new buyer), its
        negotiation as buyer or broker (on the target's ``listed`` product) or as merchant
        (on its own, with a new buyer), its capability or saved search; a merchant answering
        a foreign demand names its own listed product."""
        merchant = caller in HOLDERS
        if need == "capability":
            assert merchant, caller
            return {"capability_id": self._post(party, "/supply/capabilities",
                                                CAPABILITY)["id"]}
        if need == "saved search":
            assert caller == "buyer", caller
            return {"search_id": self._post(party, "/saved-searches", SAVED_SEARCH)["id"]}
        if need == "demand to answer" and merchant:
            return self.listed(party)
        if need in ("demand", "demand to answer"):
            assert caller in ("buyer", "broker"), caller
            if caller == "buyer":
                return {**listed, "demand_id": self.demand(party)}
            client = self.make_party("buyer", name="client buyer")
            return {**listed, "demand_id": self.demand(client, broker=party)}
        if need == "their turn":  # the other side's terms are on the table
            need = "countered" if merchant else "offered"
        if merchant:
            mine = self.listed(party)
            return {**mine, **self.negotiation(
                need, buyer=self.make_party("buyer", name="matrix buyer"), merchant=party,
                product_id=mine["product_id"])}
        if caller == "buyer":
            return {**listed, **self.negotiation(need, buyer=party, merchant=target,
                                                 product_id=listed["product_id"])}
        assert caller == "broker", caller
        return {**listed, **self.negotiation(
            need, buyer=self.make_party("buyer", name="matrix buyer"), merchant=target,
            product_id=listed["product_id"], broker=party)}


# -- one transaction for the module, a savepoint for each test --------------------------


@pytest.fixture(scope="module")
def session_factory(module_session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The module's transaction (conftest's ``module_connection``) for every fixture here."""
    return module_session_factory


@pytest.fixture(scope="module")
def app(session_factory: sessionmaker[Session], database_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One application for the module, on its transaction. The files it stores (samples,
    deliveries) are named by their content, so tests can share its instance folder."""
    settings = Settings(instance_path=tmp_path_factory.mktemp("matrix"),
                        database_url=database_url, secret_key=TEST_SECRET,
                        signing_key=TEST_SIGNING_KEY, testing=True, check_schema=False,
                        payment_rail="stripe", stripe_secret_key="sk_test_matrix",
                        stripe_webhook_secret="whsec_matrix")
    return create_app(settings, session_factory=session_factory, clock=FixedClock(START))


@dataclass(frozen=True)
class SharedPart:
    """Which objects of a cell's world are the same whoever calls: with a ``need``, the
    target's objects the cell is called on (``FOREIGN``) or those a request body names for
    a caller holding none of its own (``NO_OBJECT``), and for matching cells on their own
    objects (``OWN``) the target's listed product they may name; without, only the
    observer and the target."""

    need: str | None = None
    obj: str = NO_OBJECT
    trading: bool = False
    matching: bool = False

    def order(self) -> tuple[str, str, bool, bool]:
        return self.need or "", self.obj, self.trading, self.matching


@dataclass(frozen=True)
class Shared:
    observer: Party
    target: Party
    own: dict[str, str] = field(default_factory=dict)
    foreign: dict[str, str] = field(default_factory=dict)


# Needs whose objects are claimed for review by the claimer given to ``Estates.build``.
CLAIMED = ("claimed", "product claimed")


def _shared_part(method: str, rule: str, obj: str, caller: str) -> SharedPart:
    need = OBJECTS.get((method, rule))
    trading = (method, rule) in TRADING_OBJECTS
    if (method, rule) in WEBHOOK_OBJECTS or (method, rule) in SIGNING_KEY_OBJECTS or (
            method, rule) in DOCUMENT_OBJECTS:
        return SharedPart()  # the world builds the target's too
    if need is not None and (method, rule) in MATCHING_OBJECTS:
        if obj == OWN:
            return SharedPart("listed", OWN, matching=True)
        if obj == FOREIGN:
            need = FOREIGN_MATCHING.get(need, need)
        return SharedPart(need, obj, matching=True)
    if need is None or obj == OWN:
        return SharedPart()
    if obj == FOREIGN:
        if not trading and caller in REVIEWERS and need in CLAIMED:
            return SharedPart()  # claimed by the caller itself
        return SharedPart(need, FOREIGN, trading)
    if caller in HOLDERS or need in ("payable", "connect account"):
        return SharedPart()
    return SharedPart(need, NO_OBJECT, trading)


def _world_key(method: str, rule: str, obj: str, caller: str) -> tuple[Any, ...]:
    """What a cell's world depends on: the caller and, for an endpoint called on (or
    naming) objects, what they are, whose, and who builds them."""
    need = OBJECTS.get((method, rule))
    if need is None:
        return (caller,)
    return (caller, need, obj, (method, rule) in TRADING_OBJECTS,
            (method, rule) in MATCHING_OBJECTS)


@dataclass
class Shelf:
    """The world of the last matrix cell, kept for the next cells in the same world: its
    shared part in one savepoint, the caller with its own objects in another inside it, and
    what the observer saw there. A cell rolls back what it did, so the next finds the world
    as it was built; when a cell needs another world, the levels that differ are rolled
    back and built anew."""

    connection: Connection
    part: SharedPart | None = None
    shared: Shared | None = None
    shared_savepoint: NestedTransaction | None = None
    key: tuple[Any, ...] | None = None
    world: World | None = None
    world_savepoint: NestedTransaction | None = None
    before: dict[str, Any] = field(default_factory=dict)

    def keep(self, part: SharedPart, build_shared: Callable[[], Shared],
             key: tuple[Any, ...], build_world: Callable[[Shared], World]) -> World:
        if self.shared is None or part != self.part:
            self.clear()
            self.shared_savepoint = self.connection.begin_nested()
            try:
                self.shared = build_shared()
            except BaseException:
                self.clear()
                raise
            self.part = part
        if self.world is None or key != self.key:
            self._clear_world()
            self.world_savepoint = self.connection.begin_nested()
            try:
                self.world = build_world(self.shared)
            except BaseException:
                self._clear_world()
                raise
            self.key = key
        return self.world

    def as_built(self, what: str, look: Callable[[], Any]) -> Any:
        """What the observer sees of the world as built, looked at once per world."""
        if what not in self.before:
            self.before[what] = look()
        return self.before[what]

    def _clear_world(self) -> None:
        if self.world_savepoint is not None:
            self.world_savepoint.rollback()
        self.key = self.world = self.world_savepoint = None
        self.before = {}

    def clear(self) -> None:
        self._clear_world()
        if self.shared_savepoint is not None:
            self.shared_savepoint.rollback()
        self.part = self.shared = self.shared_savepoint = None


@pytest.fixture(scope="module")
def shelf(module_connection: Connection) -> Iterator[Shelf]:
    kept = Shelf(module_connection)
    yield kept
    kept.clear()


@pytest.fixture(autouse=True)
def isolated(request: pytest.FixtureRequest, module_connection: Connection, shelf: Shelf,
             client: FlaskClient, make_party: Callable[..., Party],
             make_caller: Callable[[str], Party | None],
             system_uow: Callable[[], UnitOfWork]) -> Iterator[None]:
    """Whatever a test writes is rolled back after it. A matrix cell first gets its world:
    the one the cell before it ran in, when it is the same."""
    cell = _matrix_cell(request)
    if cell is None:
        shelf.clear()
    else:
        part = _shared_part(*cell)
        shelf.keep(part, lambda: _build_shared(part, client, make_party, system_uow),
                   _world_key(*cell),
                   lambda shared: _build_world(shared, *cell, client=client,
                                               make_party=make_party,
                                               make_caller=make_caller,
                                               system_uow=system_uow))
    savepoint = module_connection.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()


def _matrix_cell(request: pytest.FixtureRequest) -> tuple[str, str, str, str] | None:
    if request.function is not test_endpoint_answers_each_caller_as_the_matrix_says:
        return None
    params = request.node.callspec.params
    return params["method"], params["rule"], params["obj"], params["caller"]


def _build_shared(part: SharedPart, client: FlaskClient, make_party: Callable[..., Party],
                  system_uow: Callable[[], UnitOfWork]) -> Shared:
    """Foreign objects are the target's (as holder, granting to a bystander; as seller and
    owner; as merchant of a negotiation or owner of a capability) or, for demands and saved
    searches, which merchants do not have, a new buyer's; those a body names for a caller
    without objects are the target's too (a broker names a new buyer)."""
    observer = make_party("operator", name="observing operator")
    target = make_party("merchant", name="foreign merchant")
    if part.need is None:
        return Shared(observer, target)
    estates = Estates(client, observer)
    ids: dict[str, str]
    if part.matching:
        ids = Deals(estates, make_party).shared(part.need, target=target)
    elif part.trading:
        trades = Trades(estates, make_party, system_uow)
        ids = trades.build(part.need, seller=target,
                           owner=target if part.obj == FOREIGN else None)
    elif part.obj == FOREIGN:
        bystander = make_party("merchant", name="bystander")
        ids = estates.build(part.need, holder=target, claimer=observer, grantee=bystander)
    else:
        ids = estates.build(part.need, holder=target, claimer=observer, grantee=observer)
    if part.obj == FOREIGN:
        return Shared(observer, target, foreign=ids)
    return Shared(observer, target, own=ids)


def _build_world(shared: Shared, method: str, rule: str, obj: str, caller: str, *,
                 client: FlaskClient, make_party: Callable[..., Party],
                 make_caller: Callable[[str], Party | None],
                 system_uow: Callable[[], UnitOfWork]) -> World:
    """A cell's world: its shared part, then the caller with its own objects. Own trading
    objects are the caller's as seller (merchants), as buyer (buyers), or as owner of an
    account or payout."""
    part = _shared_part(method, rule, obj, caller)
    observer, target = shared.observer, shared.target
    own, foreign = shared.own, shared.foreign
    need = OBJECTS.get((method, rule))
    if need is None:
        return World(observer, target, make_caller(caller))

    if (method, rule) in MATCHING_OBJECTS:
        return _matching_world(shared, need, obj, caller, client=client, make_party=make_party,
                               make_caller=make_caller, system_uow=system_uow)
    if (method, rule) in WEBHOOK_OBJECTS:
        return _webhook_world(shared, obj, caller, client=client, make_party=make_party,
                              make_caller=make_caller, system_uow=system_uow)
    if (method, rule) in SIGNING_KEY_OBJECTS:
        return _signing_key_world(shared, obj, caller, client=client, make_party=make_party,
                                  make_caller=make_caller, system_uow=system_uow)
    if (method, rule) in DOCUMENT_OBJECTS:
        return _document_world(shared, obj, caller, make_party=make_party,
                               make_caller=make_caller, system_uow=system_uow)
    estates = Estates(client, observer)
    trades = Trades(estates, make_party, system_uow)
    trading = (method, rule) in TRADING_OBJECTS
    party: Party | None
    if caller in HOLDERS:
        # Own objects are made while the merchant is admitted and holds a write key.
        party = make_party("merchant")
        if obj in (OWN, NO_OBJECT):
            own = (trades.build(need, seller=party, owner=party) if trading else
                   estates.build(need, holder=party, claimer=observer, grantee=target))
        party = _holder_as(caller, party, client=client, system_uow=system_uow)
    else:
        party = make_caller(caller)
        if trading and (obj == OWN or (obj == NO_OBJECT
                                       and need in ("payable", "connect account"))):
            own = trades.build(need, seller=target, owner=party)
        elif obj == OWN:  # only a grant can be the caller's without being a merchant
            assert need == "grant", (caller, rule)
            assert party is not None
            own = estates.build(need, holder=target, claimer=observer, grantee=party)
        elif obj == FOREIGN and part.need is None:  # the caller claims them for review
            assert party is not None
            bystander = make_party("merchant", name="bystander")
            foreign = estates.build(need, holder=target, claimer=party, grantee=bystander)
    return World(observer, target, party, own, foreign)


def _holder_as(caller: str, party: Party, *, client: FlaskClient,
               system_uow: Callable[[], UnitOfWork]) -> Party:
    """The merchant, once its own objects are made, as the caller: suspended, or with a
    read-only key."""
    if caller == "suspended":
        participants.change_status(party.org_id, Status.SUSPENDED, "matrix", uow=system_uow())
    elif caller == "read_only":
        return _read_only_key_of(client, party)
    return party


def _matching_world(shared: Shared, need: str, obj: str, caller: str, *,
                    client: FlaskClient, make_party: Callable[..., Party],
                    make_caller: Callable[[str], Party | None],
                    system_uow: Callable[[], UnitOfWork]) -> World:
    """A matching cell's world: the caller with its own objects (see ``Deals.own``), built
    for merchants while they are admitted and hold a write key; a merchant answering a
    foreign demand brings its own listed product."""
    deals = Deals(Estates(client, shared.observer), make_party)
    own: dict[str, str] = dict(shared.own) if obj == NO_OBJECT else {}
    party: Party | None
    if caller in HOLDERS and (obj == OWN or need == "demand to answer"):
        party = make_party("merchant")
        own = deals.own(need, caller=caller, party=party, target=shared.target,
                        listed=shared.own)
        party = _holder_as(caller, party, client=client, system_uow=system_uow)
    else:
        party = make_caller(caller)
        if obj == OWN:
            assert party is not None
            own = deals.own(need, caller=caller, party=party, target=shared.target,
                            listed=shared.own)
    return World(shared.observer, shared.target, party, own, dict(shared.foreign))


CONNECT_ACCOUNT = {"country": "US", "email": "payee@example.cn",
                   "refresh_url": "https://payee.example.cn/connect/refresh",
                   "return_url": "https://payee.example.cn/connect/done"}
WEBHOOK_ENDPOINT = {"url": "https://hooks.example.com/in", "event_types": ["order.*"]}


def _hooked(client: FlaskClient, party: Party, system_uow: Callable[[], UnitOfWork],
            ) -> dict[str, str]:
    """An endpoint of the party's organisation and an event sent to it (as the worker
    makes them)."""
    created = client.post(f"{API}/webhooks/endpoints", json=WEBHOOK_ENDPOINT,
                          headers=party.headers)
    assert created.status_code == 201, created.get_json()
    uow = system_uow()
    with uow:
        event = WebhookEvent(id=new_id("evt"), org_id=party.org_id, type="order.created",
                             subject_type="order", subject_id="ord_matrix",
                             message_id=new_id("msg"), data={"id": "ord_matrix"},
                             created_at=uow.clock.now())
        uow.session.add(event)
        uow.commit()
    return {"endpoint_id": created.json["id"], "event_id": event.id}


def _webhook_world(shared: Shared, obj: str, caller: str, *, client: FlaskClient,
                   make_party: Callable[..., Party],
                   make_caller: Callable[[str], Party | None],
                   system_uow: Callable[[], UnitOfWork]) -> World:
    """A webhook cell's world: the target's endpoint and event, and the caller's own (made
    for merchants while they are admitted and hold a write key)."""
    foreign = _hooked(client, shared.target, system_uow) if obj == FOREIGN else {}
    own: dict[str, str] = {}
    party: Party | None
    if caller in HOLDERS:
        party = make_party("merchant")
        if obj == OWN:
            own = _hooked(client, party, system_uow)
        party = _holder_as(caller, party, client=client, system_uow=system_uow)
    else:
        party = make_caller(caller)
        if obj == OWN:
            assert party is not None
            own = _hooked(client, party, system_uow)
    return World(shared.observer, shared.target, party, own, foreign)


def _pending_key(client: FlaskClient, party: Party,
                 account: LocalAccount | None = None) -> dict[str, str]:
    """A pending signing key of the party's organisation (a fresh secp256k1 key unless one
    is given) and its signature of the key's challenge."""
    account = account or Account.create()
    created = client.post(f"{API}/organisations/{party.org_id}/signing-keys",
                          json={"suite": "secp256k1", "public_key": account.address},
                          headers=party.headers)
    assert created.status_code == 201, created.get_json()
    signed = account.sign_message(encode_defunct(text=created.json["challenge"]))
    return {"signing_key_id": created.json["id"],
            "key_signature": signed.signature.to_0x_hex()}


def _submitted(party: Party, system_uow: Callable[[], UnitOfWork]) -> dict[str, str]:
    """A document of the party's organisation waiting for the operator's review."""
    doc = participants.submit_document(party.org_id, participants.DocumentInput(
        kind=participants.DocumentKind.BUSINESS_LICENCE, name="营业执照.pdf",
        sha256=hashlib.sha256(b"licence").hexdigest()), uow=system_uow())
    return {"document_id": doc.id}


def _document_world(shared: Shared, obj: str, caller: str, *,
                    make_party: Callable[..., Party],
                    make_caller: Callable[[str], Party | None],
                    system_uow: Callable[[], UnitOfWork]) -> World:
    """A document cell's world: the target's submitted document, or the caller's own."""
    foreign = _submitted(shared.target, system_uow) if obj == FOREIGN else {}
    party = make_caller(caller)
    own = _submitted(party, system_uow) if obj == OWN and party is not None else {}
    return World(shared.observer, shared.target, party, own, foreign)


def _signing_key_world(shared: Shared, obj: str, caller: str, *, client: FlaskClient,
                       make_party: Callable[..., Party],
                       make_caller: Callable[[str], Party | None],
                       system_uow: Callable[[], UnitOfWork]) -> World:
    """A signing-key cell's world: the target's pending key, or the caller's own (made for
    merchants while they are admitted and hold a write key)."""
    foreign = _pending_key(client, shared.target) if obj == FOREIGN else {}
    own: dict[str, str] = {}
    party: Party | None
    if caller in HOLDERS:
        party = make_party("merchant")
        if obj == OWN:
            own = _pending_key(client, party)
        party = _holder_as(caller, party, client=client, system_uow=system_uow)
    else:
        party = make_caller(caller)
        if obj == OWN:
            assert party is not None
            own = _pending_key(client, party)
    return World(shared.observer, shared.target, party, own, foreign)


@pytest.fixture
def world(isolated: None, shelf: Shelf) -> World:
    """The world the matrix cell runs in (built, or kept from the cell before, by
    ``isolated``)."""
    assert shelf.world is not None
    return shelf.world


def _url(rule: str, obj: str, world: World) -> str:
    if obj == NO_OBJECT:
        return rule
    owner = world.target if obj == FOREIGN else world.caller
    assert owner is not None
    url = rule.replace("<org_id>", owner.org_id).replace("<key_id>", owner.key_id)
    for name, value in (world.foreign if obj == FOREIGN else world.own).items():
        url = url.replace(f"<{name}>", value)
    assert "<" not in url, url
    return url


def _valid_body(method: str, rule: str, world: World) -> dict[str, Any] | None:
    """A body the endpoint accepts, so that only authorization can refuse the request."""
    if rule.startswith(MATCHING_PREFIXES):
        return _matching_body(method, rule, world)
    trading = _trading_body(method, rule, world)
    if trading is not None:
        return trading
    if (method, rule) == ("POST", f"{API}/webhooks/endpoints"):
        return WEBHOOK_ENDPOINT
    if (method, rule) == ("POST", f"{API}/payments/connect-account"):
        return CONNECT_ACCOUNT
    if (method, rule) == ("POST", f"{API}/organisations/<org_id>/signing-keys"):
        return {"suite": "secp256k1", "public_key": Account.create().address}
    if (method, rule) == ("POST", f"{API}/organisations/<org_id>/documents"):
        return {"kind": "business_licence", "name": "营业执照.pdf",
                "sha256": hashlib.sha256(b"renewed licence").hexdigest(),
                "issued_on": "2026-01-01", "expires_on": "2036-01-01"}
    if rule.endswith("/documents/<document_id>/review"):
        return {"decision": "verified", "note": "matrix test"}
    if (method, rule) == ("PUT", f"{API}/organisations/<org_id>/identity"):
        return {"data_security_officer": {"name": "王安全"}}
    if rule.endswith("/signing-keys/<signing_key_id>/verification"):
        ids = world.own or world.foreign
        return {"signature": ids.get("key_signature", "0x" + "00" * 65)}
    if rule.endswith("/signing-keys/<signing_key_id>/revocation"):
        return {"reason": "matrix test"}
    if rule == f"{API}/webhooks/endpoints/<endpoint_id>":
        return {"description": "matrix test"} if method == "PATCH" else None
    if rule.endswith("/secret-rotations"):
        return {"overlap_seconds": 60}
    if rule.endswith("/replays"):
        return {"event_id": world.own.get("event_id", "evt_matrix")}
    if (method, rule) == ("POST", f"{API}/participants"):
        code = random_credit_code()
        return {"name": "新申请方", "credit_code": code, "contact_name": "李四",
                "contact_email": f"new-{code.lower()}@example.cn", "roles": ["buyer"]}
    if (method, rule) == ("PATCH", f"{API}/participants/<org_id>"):
        return {"contact_phone": "+86 10 5555 0100"}
    if rule.endswith("/status-changes") and method == "POST":
        return {"status": "suspended", "reason": "matrix test"}
    if rule.endswith("/users") and method == "POST":
        return {"name": "New colleague", "email": "new.colleague@example.cn"}
    if (method, rule) == ("POST", f"{API}/keys"):
        return {"name": "matrix key", "scopes": ["read"]}
    if (method, rule) == ("POST", f"{API}/resources"):
        return _resource_body()
    if (method, rule) == ("POST", f"{API}/rights"):
        return _holding_body(world.own["resource_id"])
    if (method, rule) == ("POST", f"{API}/grants"):
        return _grant_body(world.own["right_id"], world.own["grantee"])
    if rule.endswith("/evidence"):
        return {"evidence": [_evidence("other")]}
    if rule.endswith("/disputes") and method == "POST":
        return {"claimant_org_id": world.observer.org_id, "reason": "matrix test"}
    if rule.endswith("/resolution"):
        return {"outcome": "dismissed", "resolution": "matrix test"}
    if (method, rule) == ("POST", f"{API}/products"):
        return _product_body(world.own["resource_id"], world.own["product_id"])
    if (method, rule) == ("PUT", f"{API}/products/<product_id>"):
        resource_id = (world.own or world.foreign).get("resource_id", "res_matrix")
        return _product_body(resource_id)
    if rule == f"{API}/products/<product_id>/submission":
        return {"declaration": DECLARATION}
    if rule == f"{API}/products/<product_id>/reviews":
        return {"decision": "list", "reason": "matrix test"}
    if rule.endswith("/reviews"):
        return {"decision": "approve", "reason": "matrix test"}
    if rule in (f"{API}/grants/<grant_id>/revoke",
                f"{API}/public-data/authorisations/<authorisation_id>/revoke"):
        return {"reason": "matrix test"}
    if (method, rule) == ("POST", f"{API}/public-data/authorisations"):
        return _authorisation_body(world.target.org_id)
    if rule.endswith("/breaches"):
        return {"severity": "minor", "reason": "matrix test"}
    if (method, rule) == ("POST", f"{API}/filings"):
        return _off_exchange_body(world.target.org_id)
    if (method, rule) == ("POST", f"{API}/declarations/admission"):
        return {"statement": "matrix", "qualifications_true": True, "complies_with_rules": True,
                "not_blacklisted": True, "cooperates_with_supervision": True,
                "security_officer": "matrix"}
    if rule.endswith("/reports"):
        return {"kind": "quality", "name": "质量评估报告.pdf", "sha256": "ef" * 32}
    if rule.endswith("/dispositions"):
        return {"status": "investigating", "note": "matrix test"}
    if (method, rule) == ("POST", f"{API}/suspension-orders"):
        return {"subject_type": "participant", "subject_id": world.target.org_id,
                "reason": "matrix test"}
    return None


def _trading_body(method: str, rule: str, world: World) -> dict[str, Any] | None:
    ids = world.own or world.foreign
    if (method, rule) == ("POST", f"{API}/orders"):
        return {"product_id": ids.get("product_id", "prd_matrix"),
                "offer_id": ids.get("offer_id", "ofr_matrix"), "commitment": COMMITMENT}
    if rule == f"{API}/orders/<order_id>/review":
        return {"decision": "approve", "reason": "matrix test"}
    if rule == f"{API}/orders/<order_id>/contract/signatures":
        return {"key_id": ids.get("signing_key_id", "skey_matrix"),
                "signature": ids.get("contract_signature", "0x" + "00" * 65)}
    if rule in (f"{API}/orders/<order_id>/cancellation",
                f"{API}/orders/<order_id>/contract/decline",
                f"{API}/payouts/<payout_id>/rejection"):
        return {"reason": "matrix test"}
    if rule == f"{API}/orders/<order_id>/deliveries":
        return {"mode": "api", "endpoint": "https://api.example.cn/matrix"}
    if (method, rule) == ("POST", f"{API}/orders/<order_id>/usage"):
        return {"key": "matrix-report-1", "units": 3}
    if rule == f"{API}/orders/<order_id>/acceptance":
        return {"sha256": hashlib.sha256(DELIVERED).hexdigest()}
    if (method, rule) == ("POST", f"{API}/orders/<order_id>/refunds"):
        return {"amount": 1, "cause": "goodwill", "reason": "matrix test"}
    if (method, rule) == ("PATCH", f"{API}/subscriptions/<subscription_id>"):
        return {"renew": False}
    if rule == f"{API}/subscriptions/<subscription_id>/terms-acceptance":
        return {"commitment": COMMITMENT}
    if rule == f"{API}/orders/<order_id>/disputes":
        return {"reason": "matrix test", "evidence_sha256": ["ab" * 32]}
    if rule == f"{API}/orders/<order_id>/destruction-declaration":
        return {"destroyed_at": START.isoformat(), "method": "matrix test"}
    if rule == f"{API}/disputes/<dispute_id>/answer":
        return {"answer": "matrix test"}
    if rule == f"{API}/disputes/<dispute_id>/decision":
        return {"outcome": "release", "reason": "matrix test"}
    if rule == f"{API}/disputes/<dispute_id>/escalation":
        return {"institution": "武汉仲裁委员会", "reason": "matrix test"}
    if rule == f"{API}/disputes/<dispute_id>/award":
        return {"institution": "武汉仲裁委员会", "reference": "matrix award",
                "document_sha256": "ef" * 32, "outcome": "release",
                "decided_at": START.isoformat()}
    if rule == f"{API}/api-credentials/verification":
        return {"credential": ids.get("credential", "mkc_matrix")}
    if rule == f"{API}/receipts/verification":
        return {"bundle": json.loads(ids["bundle"]), "signer": None}
    if (method, rule) == ("PUT", f"{API}/products/<product_id>/distribution"):
        merchant = world.target if world.foreign or world.caller is None else world.caller
        return {"shares": [{"role": "merchant", "org_id": merchant.org_id, "bps": 10_000}]}
    if rule == f"{API}/ledger/top-ups":
        return {"org_id": world.target.org_id, "amount": 100, "currency": "CNY",
                "reference": "MATRIX-TOP-UP"}
    if (method, rule) == ("POST", f"{API}/payouts"):
        return PAYOUT
    if rule == f"{API}/payouts/<payout_id>/confirmation":
        return {"bank_reference": "MATRIX-PAID"}
    return None


def _matching_body(method: str, rule: str, world: World) -> dict[str, Any] | None:
    ids = world.own or world.foreign
    if (method, rule) == ("POST", f"{API}/demands"):
        if world.caller is not None and "broker" in world.caller.roles:
            return {**DEMAND, "buyer_org_id": ids["buyer_org_id"]}
        return DEMAND
    if (method, rule) == ("PATCH", f"{API}/demands/<demand_id>"):
        return {"description": "matrix test", "budget_max": 2_000}
    if rule in (f"{API}/demands/<demand_id>/closure",
                f"{API}/negotiations/<negotiation_id>/decline",
                f"{API}/negotiations/<negotiation_id>/withdrawal"):
        return {"reason": "matrix test"}
    if rule == f"{API}/demands/<demand_id>/answers":  # the caller's own listed product
        return {"product_id": world.own.get("product_id", "prd_matrix"),
                "terms": {"amount": 100}}
    if rule == f"{API}/demands/<demand_id>/proposals":
        return {"product_id": ids.get("product_id", "prd_matrix"), "commission_bps": 500}
    if (method, rule) == ("POST", f"{API}/negotiations"):
        return {"product_id": ids.get("product_id", "prd_matrix"), "terms": USE}
    if rule in (f"{API}/negotiations/<negotiation_id>/offers",
                f"{API}/negotiations/<negotiation_id>/counters"):
        return {"terms": {"amount": 90}}
    if (method, rule) == ("POST", f"{API}/supply/capabilities"):
        return CAPABILITY
    if (method, rule) == ("POST", f"{API}/saved-searches"):
        return SAVED_SEARCH
    return None


def _request(method: str, rule: str, world: World) -> dict[str, Any]:
    """The body (JSON, or a multipart form for uploads) and query string of the request."""
    if rule == f"{API}/orders/<order_id>/deliveries/file":
        return {"data": _file_form(), "content_type": "multipart/form-data"}
    return {"json": _valid_body(method, rule, world),
            "query_string": QUERIES.get((method, rule))}


def _listing(client: FlaskClient, observer: Party, path: str) -> list[dict[str, Any]]:
    listed = client.get(f"{API}{path}?limit=200", headers=observer.headers)
    assert listed.status_code == 200, listed.get_json()
    assert listed.json["next_cursor"] is None
    return list(listed.json["items"])


def _audit_head(client: FlaskClient, observer: Party) -> int:
    """The sequence number of the audit chain's head, once the whole chain is verified."""
    verification = client.get(f"{API}/audit/verification", headers=observer.headers)
    assert verification.status_code == 200
    assert verification.json["ok"] is True, verification.json
    return int(verification.json["head_seq"])


def _table(connection: Connection, table: Table) -> list[dict[str, Any]]:
    rows = connection.execute(select(table).order_by(*table.primary_key.columns))
    return [dict(row._mapping) for row in rows]


def _everything_visible(client: FlaskClient, observer: Party,
                        connection: Connection) -> dict[str, Any]:
    """What the operator can see: the audit head, every organisation, users and history,
    every resource with its disputes, every right and every grant, every product, the
    compliance records, every order (with its ledger and history), dispute, account and
    payout, and every demand (with its matches and history) and negotiation (with its
    history); and the capabilities and saved searches (with what they found), which the
    operator cannot list all of, and the receipts with their log and anchoring batches, as
    their tables hold them."""
    orgs = _listing(client, observer, "/participants")
    seen: dict[str, Any] = {"head_seq": _audit_head(client, observer), "orgs": orgs}
    for org in orgs:
        for part in ("users", "status-changes"):
            seen[f"{org['id']}/{part}"] = _listing(client, observer,
                                                   f"/participants/{org['id']}/{part}")
    for part in ("resources", "rights", "grants"):
        seen[part] = _listing(client, observer, f"/{part}")
    for resource in seen["resources"]:
        seen[f"{resource['id']}/disputes"] = _listing(
            client, observer, f"/resources/{resource['id']}/disputes")
    seen["products"] = _listing(client, observer, "/products")
    for product in seen["products"]:
        seen[f"{product['id']}/history"] = _listing(client, observer,
                                                    f"/products/{product['id']}/history")
    seen["catalog"] = _listing(client, observer, "/catalog")
    for part in ("declarations", "decisions", "filings", "alerts", "reviews"):
        seen[part] = _listing(client, observer, f"/{part}")
    for declaration in seen["declarations"]:
        found = client.get(f"{API}/declarations/{declaration['id']}", headers=observer.headers)
        seen[f"{declaration['id']}/breaches"] = found.json["breaches"]
    for part in ("orders", "disputes", "ledger/accounts", "payouts"):
        seen[part] = _listing(client, observer, f"/{part}")
    for order in seen["orders"]:
        for part in ("", "/ledger"):
            found = client.get(f"{API}/orders/{order['id']}{part}", headers=observer.headers)
            assert found.status_code == 200, found.get_json()
            seen[f"{order['id']}{part}"] = found.json
        seen[f"{order['id']}/history"] = _listing(client, observer,
                                                  f"/orders/{order['id']}/history")
    seen["demands"] = _listing(client, observer, "/demands")
    seen["negotiations"] = _listing(client, observer, "/negotiations")
    for part, items in (("demands", seen["demands"]), ("negotiations", seen["negotiations"])):
        for item in items:
            for view in ("", "/history"):
                found = client.get(f"{API}/{part}/{item['id']}{view}",
                                   headers=observer.headers)
                assert found.status_code == 200, found.get_json()
                seen[f"{item['id']}{view}"] = found.json
    for model in (Capability, SavedSearch, SavedSearchHit, Receipt, ReceiptQueue, LogEntry,
                  LogNode, LogHead, Checkpoint, AnchorBatch, WebhookEndpoint, EndpointSecret,
                  WebhookEvent, WebhookDelivery, CardPayment, ConnectAccount, StripeCall,
                  StripeEvent, SigningKey, ContractSignature, PublicDataAuthorisation):
        table = cast(Table, model.__table__)
        seen[table.name] = _table(connection, table)
    return seen


def _assert_key_still_works(client: FlaskClient, key_owner: Party) -> None:
    me = client.get(f"{API}/me", headers=key_owner.headers)
    assert me.status_code == 200, me.get_json()
    assert me.json["key_id"] == key_owner.key_id


# -- the matrix ------------------------------------------------------------------------


def test_every_endpoint_declares_access_and_appears_in_the_matrix(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDECLARED_ENDPOINTS or rule.endpoint.startswith(UNDECLARED_PREFIXES):
            continue
        view = app.view_functions[rule.endpoint]
        assert access_of(view) is not None, f"{rule.endpoint} ({rule.rule}) declares no access"
        for method in sorted((rule.methods or set()) - IMPLICIT_METHODS):
            routes.add((method, rule.rule))

    missing = routes - set(MATRIX)
    stale = set(MATRIX) - routes
    assert not missing, f"endpoints missing from the authorization matrix: {sorted(missing)}"
    assert not stale, f"matrix rows for endpoints that do not exist: {sorted(stale)}"


def test_matrix_rows_name_the_objects_each_endpoint_has() -> None:
    for (method, rule), rows in MATRIX.items():
        expected_objects = {OWN, FOREIGN} if "<" in rule else {NO_OBJECT}
        assert set(rows) == expected_objects, (method, rule)
        for row in rows.values():
            assert len(row) == len(CALLERS), (method, rule)


@pytest.mark.parametrize(("method", "rule", "obj", "caller", "expected"), _cases())
def test_endpoint_answers_each_caller_as_the_matrix_says(
    client: FlaskClient, world: World, shelf: Shelf,
    method: str, rule: str, obj: str, caller: str, expected: int | tuple[int, str],
) -> None:
    url = _url(rule, obj, world)
    headers = world.caller.headers if world.caller else {}

    def send() -> Any:
        return client.open(url, method=method, headers=headers, buffered=True,
                           **_request(method, rule, world))

    if isinstance(expected, int):  # allowed: what matters is the audit head
        head = shelf.as_built("head", lambda: _audit_head(client, world.observer))
        response = send()
        head_after = _audit_head(client, world.observer)
        assert response.status_code == expected, response.get_json()
        if expected == GONE:
            assert response.data == b""
        else:
            assert response.mimetype == MEDIA_TYPES.get((method, rule), "application/json")
        if (method, rule) in READING_POSTS:
            assert head_after == head, "an allowed read left an audit entry"
        elif method != "GET":
            assert head_after > head, "an allowed write left no audit entry"
        return

    before = shelf.as_built("everything", lambda: _everything_visible(
        client, world.observer, shelf.connection))
    response = send()
    after = _everything_visible(client, world.observer, shelf.connection)
    status, code = expected
    assert response.status_code == status, response.get_json()
    body = problem(response)
    assert body["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert after == before, "a refused request changed something"
    if rule == f"{API}/keys/<key_id>/revoke":
        key_owner = world.target if obj == FOREIGN else world.caller
        assert key_owner is not None
        _assert_key_still_works(client, key_owner)


# -- what lists show -------------------------------------------------------------------


def _listed_ids(client: FlaskClient, url: str, party: Party) -> set[str]:
    response = client.get(url, headers=party.headers)
    assert response.status_code == 200, response.get_json()
    assert response.json["next_cursor"] is None
    return {item["id"] for item in response.json["items"]}


@pytest.fixture
def population(make_party: Callable[..., Party], operator: Party) -> dict[str, Party]:
    return {
        "operator": operator,
        "merchant": make_party("merchant"),
        "buyer": make_party("buyer"),
        "assessor": make_party("assessor"),
        "broker": make_party("broker"),
        "regulator": make_party("regulator"),
        "applicant": make_party("buyer", status="applied"),
        "suspended": make_party("merchant", status="suspended"),
        "exited": make_party("merchant", status="exited"),
    }


def test_merchant_listing_participants_sees_only_itself(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    merchant = population["merchant"]
    assert _listed_ids(client, f"{API}/participants", merchant) == {merchant.org_id}


@pytest.mark.parametrize("who", ["buyer", "assessor", "broker", "applicant", "suspended"])
def test_other_participants_list_only_themselves(
    client: FlaskClient, population: dict[str, Party], who: str
) -> None:
    party = population[who]
    assert _listed_ids(client, f"{API}/participants", party) == {party.org_id}


@pytest.mark.parametrize("who", ["operator", "regulator"])
def test_operator_and_regulator_list_every_organisation(
    client: FlaskClient, population: dict[str, Party], who: str
) -> None:
    everyone = {party.org_id for party in population.values()}
    assert _listed_ids(client, f"{API}/participants?limit=200", population[who]) == everyone


@pytest.mark.parametrize("query", ["status=admitted", "role=buyer", "status=applied&role=buyer",
                                   "status=suspended", "role=regulator"])
def test_filters_never_widen_what_a_merchant_sees(
    client: FlaskClient, population: dict[str, Party], query: str
) -> None:
    merchant = population["merchant"]
    assert _listed_ids(client, f"{API}/participants?{query}", merchant) <= {merchant.org_id}


def test_a_cursor_from_the_operators_listing_does_not_widen_a_merchants(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    operator, merchant = population["operator"], population["merchant"]
    first = client.get(f"{API}/participants?limit=1", headers=operator.headers)
    assert first.status_code == 200
    cursor = first.json["next_cursor"]
    assert cursor is not None
    response = client.get(f"{API}/participants", query_string={"cursor": cursor},
                          headers=merchant.headers)
    assert response.status_code == 200
    assert {o["id"] for o in response.json["items"]} <= {merchant.org_id}


def test_key_listing_shows_only_own_organisation_keys(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    merchant, buyer = population["merchant"], population["buyer"]
    extra = client.post(f"{API}/keys", json={"name": "second"}, headers=merchant.headers)
    assert extra.status_code == 201
    colleague = client.post(f"{API}/participants/{merchant.org_id}/users",
                            json={"name": "Colleague", "email": "colleague@example.cn"},
                            headers=merchant.headers)
    assert colleague.status_code == 201
    colleague_key = client.post(f"{API}/keys", json={"name": "for colleague",
                                                     "user_id": colleague.json["id"]},
                                headers=merchant.headers)
    assert colleague_key.status_code == 201

    response = client.get(f"{API}/keys", headers=merchant.headers)
    assert response.status_code == 200
    keys = response.json["items"]
    assert {k["id"] for k in keys} == {merchant.key_id, extra.json["id"],
                                       colleague_key.json["id"]}
    assert {k["organisation_id"] for k in keys} == {merchant.org_id}
    assert all("token" not in k and "secret_hash" not in k for k in keys)
    assert _listed_ids(client, f"{API}/keys", buyer) == {buyer.key_id}


@pytest.mark.parametrize("who", ["operator", "regulator"])
def test_key_listing_is_own_organisation_even_for_those_who_see_everything(
    client: FlaskClient, population: dict[str, Party], who: str
) -> None:
    party = population[who]
    assert _listed_ids(client, f"{API}/keys", party) == {party.key_id}


def test_merchant_cannot_list_users_of_a_foreign_organisation(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    merchant, buyer = population["merchant"], population["buyer"]
    response = client.get(f"{API}/participants/{buyer.org_id}/users", headers=merchant.headers)
    assert response.status_code == 404
    assert problem(response)["code"] == "organisation_not_found"


def test_foreign_and_unknown_organisations_look_the_same(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    merchant, buyer = population["merchant"], population["buyer"]
    foreign = client.get(f"{API}/participants/{buyer.org_id}", headers=merchant.headers)
    unknown = client.get(f"{API}/participants/org_00000000000000000000000000",
                         headers=merchant.headers)
    assert foreign.status_code == unknown.status_code == 404
    assert problem(foreign)["code"] == problem(unknown)["code"] == "organisation_not_found"
    assert problem(foreign)["title"] == problem(unknown)["title"]


def test_users_listed_are_those_of_the_organisation_asked_for(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    merchant, regulator = population["merchant"], population["regulator"]
    assert _listed_ids(client, f"{API}/participants/{merchant.org_id}/users",
                       regulator) == {merchant.user_id}
    assert _listed_ids(client, f"{API}/participants/{merchant.org_id}/users",
                       merchant) == {merchant.user_id}


def test_admission_history_of_a_foreign_organisation_is_hidden(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    applicant, suspended = population["applicant"], population["suspended"]
    response = client.get(f"{API}/participants/{suspended.org_id}/status-changes",
                          headers=applicant.headers)
    assert response.status_code == 404
    assert problem(response)["code"] == "organisation_not_found"
    own = client.get(f"{API}/participants/{applicant.org_id}/status-changes",
                     headers=applicant.headers)
    assert own.status_code == 200
    assert {c["organisation_id"] for c in own.json["items"]} == {applicant.org_id}


def test_me_describes_the_caller_only(client: FlaskClient, population: dict[str, Party]) -> None:
    applicant = population["applicant"]
    me = client.get(f"{API}/me", headers=applicant.headers)
    assert me.status_code == 200
    assert me.json["organisation"]["id"] == applicant.org_id
    assert me.json["organisation"]["status"] == "applied"
    assert me.json["user"]["id"] == applicant.user_id
    assert me.json["key_id"] == applicant.key_id


# -- what rights lists show ------------------------------------------------------------


@dataclass(frozen=True)
class Holdings:
    merchant_resource: str
    merchant_right: str
    grant: str  # from the population's merchant to its buyer
    other: Party  # a second merchant
    other_resource: str
    other_right: str  # submitted only


@pytest.fixture
def holdings(client: FlaskClient, population: dict[str, Party],
             make_party: Callable[..., Party]) -> Holdings:
    estates = Estates(client, population["operator"])
    merchant, buyer = population["merchant"], population["buyer"]
    mine = estates.build("grant", holder=merchant, claimer=population["operator"],
                         grantee=buyer)
    other = make_party("merchant")
    theirs = estates.build("submitted", holder=other, claimer=population["operator"],
                           grantee=buyer)
    return Holdings(mine["resource_id"], mine["right_id"], mine["grant_id"], other,
                    theirs["resource_id"], theirs["right_id"])


def _rights_lists(client: FlaskClient, party: Party, query: str = "") -> dict[str, set[str]]:
    return {part: _listed_ids(client, f"{API}/{part}?limit=200{query}", party)
            for part in ("resources", "rights", "grants")}


def test_merchants_list_only_their_own_resources_rights_and_grants(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings
) -> None:
    h = holdings
    assert _rights_lists(client, population["merchant"]) == {
        "resources": {h.merchant_resource}, "rights": {h.merchant_right}, "grants": {h.grant}}
    assert _rights_lists(client, h.other) == {
        "resources": {h.other_resource}, "rights": {h.other_right}, "grants": set()}


@pytest.mark.parametrize("who", ["buyer", "broker"])
def test_participants_without_holdings_list_only_grants_they_received(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings, who: str
) -> None:
    grants = {holdings.grant} if who == "buyer" else set()
    assert _rights_lists(client, population[who]) == {
        "resources": set(), "rights": set(), "grants": grants}


@pytest.mark.parametrize("who", ["operator", "assessor", "regulator"])
def test_operator_assessors_and_regulators_list_every_resource_right_and_grant(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings, who: str
) -> None:
    h = holdings
    assert _rights_lists(client, population[who]) == {
        "resources": {h.merchant_resource, h.other_resource},
        "rights": {h.merchant_right, h.other_right}, "grants": {h.grant}}


@pytest.mark.parametrize("who", ["applicant", "suspended"])
def test_organisations_not_admitted_list_nothing_of_rights(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings, who: str
) -> None:
    for part in ("resources", "rights", "grants"):
        response = client.get(f"{API}/{part}", headers=population[who].headers)
        assert response.status_code == 403
        assert problem(response)["code"] == "participant_not_admitted"


def test_rights_filters_never_widen_what_a_merchant_sees(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings
) -> None:
    h, merchant = holdings, population["merchant"]
    filters = {
        "resources": [f"holder={merchant.org_id}"],
        "rights": [f"holder={merchant.org_id}", f"resource_id={h.merchant_resource}",
                   "status=registered", "kind=resource_holding"],
        "grants": ["status=active"],
    }
    for part, queries in filters.items():
        for query in queries:
            seen = _listed_ids(client, f"{API}/{part}?{query}", h.other)
            assert seen <= {h.other_resource, h.other_right}, (part, query)


def test_a_cursor_from_the_operators_rights_listing_does_not_widen_a_merchants(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings
) -> None:
    for part in ("resources", "rights"):
        first = client.get(f"{API}/{part}?limit=1", headers=population["operator"].headers)
        assert first.status_code == 200
        cursor = first.json["next_cursor"]
        assert cursor is not None
        response = client.get(f"{API}/{part}", query_string={"cursor": cursor},
                              headers=holdings.other.headers)
        assert response.status_code == 200
        assert {item["id"] for item in response.json["items"]} <= {
            holdings.other_resource, holdings.other_right}


def test_foreign_and_unknown_rights_objects_look_the_same(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings
) -> None:
    other = holdings.other
    unknown = "00000000000000000000000000"
    pairs = ((f"resources/{holdings.merchant_resource}", f"resources/res_{unknown}"),
             (f"rights/{holdings.merchant_right}", f"rights/rgt_{unknown}"),
             (f"grants/{holdings.grant}", f"grants/gnt_{unknown}"))
    for foreign, missing in pairs:
        a = client.get(f"{API}/{foreign}", headers=other.headers)
        b = client.get(f"{API}/{missing}", headers=other.headers)
        assert a.status_code == b.status_code == 404
        assert problem(a)["code"] == problem(b)["code"]
        assert problem(a)["title"] == problem(b)["title"]


def test_a_participant_cannot_dispute_or_probe_a_resource_it_cannot_see(
    client: FlaskClient, population: dict[str, Party], holdings: Holdings
) -> None:
    """Objections go through the operator: a buyer gets the same refusal for a hidden resource
    and for an unknown id, so the endpoint reveals nothing, and the holder's rights stand."""
    h, buyer, operator = holdings, population["buyer"], population["operator"]
    hidden = client.post(f"{API}/resources/{h.other_resource}/disputes",
                         json={"claimant_org_id": buyer.org_id, "reason": "这份数据是我们的"},
                         headers=buyer.headers)
    unknown = client.post(f"{API}/resources/res_00000000000000000000000000/disputes",
                          json={"claimant_org_id": buyer.org_id, "reason": "探测"},
                          headers=buyer.headers)
    assert hidden.status_code == unknown.status_code == 403
    assert problem(hidden)["code"] == problem(unknown)["code"] == "role_not_allowed"
    merchant = population["merchant"]
    own = client.post(f"{API}/resources/{h.merchant_resource}/disputes",
                      json={"claimant_org_id": buyer.org_id, "reason": "自我争议"},
                      headers=merchant.headers)
    assert own.status_code == 403
    right = client.get(f"{API}/rights/{h.merchant_right}", headers=operator.headers)
    assert right.json["status"] == "registered"


# -- denied writes around admission and keys -------------------------------------------


def _status_of(client: FlaskClient, operator: Party, org_id: str) -> str:
    response = client.get(f"{API}/participants/{org_id}", headers=operator.headers)
    assert response.status_code == 200
    return str(response.json["status"])


def _head_seq(client: FlaskClient, operator: Party) -> int:
    response = client.get(f"{API}/audit/verification", headers=operator.headers)
    assert response.status_code == 200
    return int(response.json["head_seq"])


def test_applicant_cannot_admit_itself(client: FlaskClient, population: dict[str, Party]) -> None:
    applicant, operator = population["applicant"], population["operator"]
    head = _head_seq(client, operator)
    response = client.post(f"{API}/participants/{applicant.org_id}/status-changes",
                           json={"status": "admitted", "reason": "trust me"},
                           headers=applicant.headers)
    assert response.status_code == 403
    assert problem(response)["code"] == "participant_not_admitted"
    assert _status_of(client, operator, applicant.org_id) == "applied"
    assert _head_seq(client, operator) == head


def test_suspended_merchant_cannot_reinstate_itself(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    suspended, operator = population["suspended"], population["operator"]
    head = _head_seq(client, operator)
    response = client.post(f"{API}/participants/{suspended.org_id}/status-changes",
                           json={"status": "admitted", "reason": "we are fine"},
                           headers=suspended.headers)
    assert response.status_code == 403
    assert problem(response)["code"] == "participant_not_admitted"
    assert _status_of(client, operator, suspended.org_id) == "suspended"
    assert _head_seq(client, operator) == head


@pytest.mark.parametrize("who", ["merchant", "regulator", "broker"])
def test_only_the_operator_decides_admission(
    client: FlaskClient, population: dict[str, Party], who: str
) -> None:
    operator, applicant = population["operator"], population["applicant"]
    head = _head_seq(client, operator)
    response = client.post(f"{API}/participants/{applicant.org_id}/status-changes",
                           json={"status": "admitted", "reason": "looks good"},
                           headers=population[who].headers)
    assert response.status_code == 403
    assert problem(response)["code"] == "role_not_allowed"
    assert _status_of(client, operator, applicant.org_id) == "applied"
    assert _head_seq(client, operator) == head


def test_regulator_cannot_change_contact_details(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    operator, regulator, merchant = (population["operator"], population["regulator"],
                                     population["merchant"])
    before = client.get(f"{API}/participants/{merchant.org_id}", headers=operator.headers).json
    for org_id in (merchant.org_id, regulator.org_id):
        response = client.patch(f"{API}/participants/{org_id}",
                                json={"contact_name": "Regulator was here"},
                                headers=regulator.headers)
        assert response.status_code == 403
        assert problem(response)["code"] == "role_not_allowed"
    after = client.get(f"{API}/participants/{merchant.org_id}", headers=operator.headers).json
    assert after == before


@pytest.mark.parametrize("status", ["exited", "blacklisted"])
@pytest.mark.parametrize("endpoint", [f"{API}/me", f"{API}/participants"])
def test_keys_of_exited_or_blacklisted_organisations_are_refused(
    client: FlaskClient, make_party: Callable[..., Party], status: str, endpoint: str
) -> None:
    gone = make_party("merchant", status=status)
    response = client.get(endpoint, headers=gone.headers)
    assert response.status_code == 403
    assert problem(response)["code"] == "participant_not_admitted"
    own = client.get(f"{API}/participants/{gone.org_id}", headers=gone.headers)
    assert own.status_code == 403
    assert problem(own)["code"] == "participant_not_admitted"


def test_key_cannot_be_issued_to_a_user_of_another_organisation(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    operator, merchant, buyer = population["operator"], population["merchant"], population["buyer"]
    head = _head_seq(client, operator)
    response = client.post(f"{API}/keys", json={"name": "stolen", "user_id": buyer.user_id},
                           headers=merchant.headers)
    assert response.status_code == 404
    assert problem(response)["code"] == "user_not_found"
    assert _head_seq(client, operator) == head
    assert _listed_ids(client, f"{API}/keys", buyer) == {buyer.key_id}


def test_operator_cannot_create_users_in_another_organisation(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    operator, merchant = population["operator"], population["merchant"]
    response = client.post(f"{API}/participants/{merchant.org_id}/users",
                           json={"name": "Planted", "email": "planted@example.cn"},
                           headers=operator.headers)
    assert response.status_code == 404
    assert problem(response)["code"] == "organisation_not_found"
    assert _listed_ids(client, f"{API}/participants/{merchant.org_id}/users",
                       operator) == {merchant.user_id}


def test_read_only_key_cannot_mint_a_key_with_write_scope(
    client: FlaskClient, population: dict[str, Party]
) -> None:
    operator, merchant = population["operator"], population["merchant"]
    read_only = _read_only_key_of(client, merchant)
    head = _head_seq(client, operator)
    response = client.post(f"{API}/keys", json={"name": "escalate", "scopes": ["read", "write"]},
                           headers=read_only.headers)
    assert response.status_code == 403
    assert problem(response)["code"] == "scope_not_allowed"
    assert _head_seq(client, operator) == head


@pytest.mark.parametrize("roles", [["operator"], ["operator", "broker"]])
def test_nobody_creates_an_operator_organisation_through_the_api(
    client: FlaskClient, population: dict[str, Party], roles: list[str]
) -> None:
    operator = population["operator"]
    head = _head_seq(client, operator)
    orgs = _listed_ids(client, f"{API}/participants?limit=200", operator)
    for headers in ({}, operator.headers):
        code = random_credit_code()
        response = client.post(f"{API}/participants", headers=headers, json={
            "name": "Second venue", "credit_code": code, "contact_name": "王五",
            "contact_email": f"venue-{code.lower()}@example.cn", "roles": roles})
        assert response.status_code == 403, response.get_json()
        assert problem(response)["code"] == "operator_role_reserved"
    assert _head_seq(client, operator) == head
    assert _listed_ids(client, f"{API}/participants?limit=200", operator) == orgs


# -- whose turn it is in a negotiation -------------------------------------------------


def test_the_side_whose_terms_are_on_the_table_cannot_answer_them(
    client: FlaskClient, population: dict[str, Party], make_party: Callable[..., Party]
) -> None:
    """The matrix calls counters and agreements on the caller's turn; the merchant who made
    the offer may neither counter nor agree to it, and nothing moves."""
    operator, merchant, buyer = (population["operator"], population["merchant"],
                                 population["buyer"])
    deals = Deals(Estates(client, operator), make_party)
    listed = deals.listed(merchant)
    ids = deals.negotiation("offered", buyer=buyer, merchant=merchant,
                            product_id=listed["product_id"])
    url = f"{API}/negotiations/{ids['negotiation_id']}"
    head = _head_seq(client, operator)
    for action, body in (("counters", {"terms": {"amount": 90}}), ("agreement", None)):
        response = client.post(f"{url}/{action}", json=body, headers=merchant.headers)
        assert response.status_code == 409, response.get_json()
        assert problem(response)["code"] == "not_your_turn"
    assert _head_seq(client, operator) == head
    assert client.get(url, headers=buyer.headers).json["status"] == "offered"


def test_a_broker_withdraws_only_a_proposal_not_yet_accepted(
    client: FlaskClient, population: dict[str, Party], make_party: Callable[..., Party]
) -> None:
    operator, merchant, buyer, broker = (population["operator"], population["merchant"],
                                         population["buyer"], population["broker"])
    deals = Deals(Estates(client, operator), make_party)
    listed = deals.listed(merchant)
    ids = deals.negotiation("requested", buyer=buyer, merchant=merchant,
                            product_id=listed["product_id"], broker=broker)
    url = f"{API}/negotiations/{ids['negotiation_id']}"
    head = _head_seq(client, operator)
    response = client.post(f"{url}/withdrawal", json={"reason": "matrix test"},
                           headers=broker.headers)
    assert response.status_code == 409, response.get_json()
    assert problem(response)["code"] == "not_your_turn"
    assert _head_seq(client, operator) == head
    assert client.get(url, headers=broker.headers).json["status"] == "requested"
