"""Pure rules about an organisation's qualification documents (主体资格) and the people
behind it (实名制): which documents admission needs, when one is in force, which reminders
are due, how identity numbers are kept (a keyed digest, never the number) and when two
organisations are related parties (关联方).

No session, no clock: callers pass the day and the documents by value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class DocumentKind(StrEnum):
    BUSINESS_LICENCE = "business_licence"  # 营业执照
    LEGAL_REPRESENTATIVE = "legal_representative"  # 法定代表人身份证明
    DATA_SECURITY_OFFICER = "data_security_officer"  # 数据安全负责人任命书


class DocumentStatus(StrEnum):
    SUBMITTED = "submitted"  # waiting for the operator's review
    VERIFIED = "verified"  # the operator checked it against the original
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a renewal of the same kind was verified after it


REQUIRED_KINDS: tuple[DocumentKind, ...] = tuple(DocumentKind)
DOCUMENT_LABELS = {DocumentKind.BUSINESS_LICENCE: "营业执照",
                   DocumentKind.LEGAL_REPRESENTATIVE: "法定代表人身份证明",
                   DocumentKind.DATA_SECURITY_OFFICER: "数据安全负责人任命书"}


@dataclass(frozen=True)
class DocumentState:
    """What the rules need of one document."""

    id: str
    kind: str
    status: str
    expires_on: date | None  # None: valid without a time limit (长期)
    issued_on: date | None = None

    def expired(self, today: date) -> bool:
        """Past its last valid day (a document is in force on its expiry date)."""
        return self.expires_on is not None and today > self.expires_on


def current(documents: Iterable[DocumentState]) -> dict[str, DocumentState]:
    """The document of each kind that counts now: the verified one (at most one is verified
    per kind; a verified renewal supersedes the one before it), else the latest submitted."""
    verified: dict[str, DocumentState] = {}
    pending: dict[str, DocumentState] = {}
    for doc in sorted(documents, key=lambda d: d.id):
        if doc.status == DocumentStatus.VERIFIED.value:
            verified[doc.kind] = doc
        elif doc.status == DocumentStatus.SUBMITTED.value:
            pending[doc.kind] = doc
    return {**pending, **verified}


@dataclass(frozen=True)
class Shortfall:
    """A required document that keeps an organisation from being admitted."""

    kind: str
    problem: str  # missing, unverified or expired
    document_id: str | None = None
    expires_on: date | None = None

    def describe(self) -> str:
        label = DOCUMENT_LABELS.get(DocumentKind(self.kind), self.kind)
        text = f"{self.kind} ({label}) is {self.problem}"
        if self.problem == "expired" and self.expires_on is not None:
            text += f" since {self.expires_on.isoformat()}"
        return text


def shortfalls(documents: Iterable[DocumentState], today: date,
               required: Sequence[DocumentKind] = REQUIRED_KINDS) -> list[Shortfall]:
    """Every required document that is missing, not yet verified or expired: empty when
    the organisation may be admitted."""
    counted = current(documents)
    found: list[Shortfall] = []
    for kind in required:
        doc = counted.get(kind.value)
        if doc is None:
            found.append(Shortfall(kind.value, "missing"))
        elif doc.status != DocumentStatus.VERIFIED.value:
            found.append(Shortfall(kind.value, "unverified", doc.id))
        elif doc.expired(today):
            found.append(Shortfall(kind.value, "expired", doc.id, doc.expires_on))
    return found


def lapsed(documents: Iterable[DocumentState], today: date) -> list[DocumentState]:
    """The verified documents in force before that have now expired with no verified
    renewal: what suspends an admitted organisation's trading."""
    return [d for d in current(documents).values()
            if d.status == DocumentStatus.VERIFIED.value and d.expired(today)]


def reminders_due(documents: Iterable[DocumentState], today: date,
                  thresholds: Iterable[int], sent: set[tuple[str, int]],
                  ) -> list[tuple[DocumentState, int]]:
    """The (document, threshold) reminders to send today: a verified document in force that
    expires within ``threshold`` days, once per document and threshold (``sent`` holds the
    pairs already sent). Only the nearest threshold reached is sent, so a document first
    seen 5 days before expiry is reminded once, not once per threshold."""
    due: list[tuple[DocumentState, int]] = []
    for doc in current(documents).values():
        if (doc.status != DocumentStatus.VERIFIED.value or doc.expires_on is None
                or doc.expired(today)):
            continue
        left = (doc.expires_on - today).days
        reached = sorted(t for t in set(thresholds) if left <= t)
        if reached and (doc.id, reached[0]) not in sent:
            due.append((doc, reached[0]))
    return due


def dates_problem(issued_on: date | None, expires_on: date | None) -> str | None:
    """Why a document's dates cannot be right, or None."""
    if issued_on is not None and expires_on is not None and expires_on < issued_on:
        return "expires before it was issued"
    return None


# -- identities (实名制) ----------------------------------------------------------------------

_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def normalise_id(number: str) -> str:
    return re.sub(r"[\s-]", "", number).upper()


def identity_number_problem(number: str) -> str | None:
    """Why a person's identity number is not acceptable, or None. An 18-character
    resident identity number (GB 11643) must pass its check character; other documents
    (passports, permits) need 5-30 letters and digits."""
    value = normalise_id(number)
    if len(value) == 18 and value[:17].isdigit():
        if not _RESIDENT_ID.match(value):
            return "not a resident identity number (GB 11643)"
        total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
        if "10X98765432"[total % 11] != value[17]:
            return "check character does not match (GB 11643)"
        return None
    if not re.fullmatch(r"[A-Z0-9]{5,30}", value):
        return "must be 5 to 30 letters and digits"
    return None


def identity_digest(key: bytes, kind: str, number: str) -> str:
    """A keyed digest (HMAC-SHA256) of an identity: equal identities give equal digests, so
    relations can be found, while the number itself is never stored. ``kind`` is
    ``person`` (an identity number) or ``organisation`` (a credit code)."""
    message = f"{kind}:{normalise_id(number)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def masked(number: str) -> str:
    """What may be shown of an identity number: its last four characters."""
    value = normalise_id(number)
    return "*" * max(0, len(value) - 4) + value[-4:]


# -- related parties (关联方) --------------------------------------------------------------


@dataclass(frozen=True)
class PartyIdentity:
    """Who stands behind an organisation, as relations are judged: its own credit code,
    the digest of its legal representative's identity, and its controlling shareholder's
    digest (a person's or an organisation's) and credit code when it is an organisation."""

    org_id: str
    credit_code: str
    legal_representative: str | None = None
    controller: str | None = None
    controller_credit_code: str | None = None


def relation_links(a: PartyIdentity, b: PartyIdentity) -> list[str]:
    """How two organisations are related, if at all: the same legal representative, the
    same controlling shareholder, one controlling the other, or the legal representative
    of one controlling the other. Empty: not related (or not known to be)."""
    if a.org_id == b.org_id:
        return []
    links: list[str] = []
    if a.legal_representative and a.legal_representative == b.legal_representative:
        links.append("same_legal_representative")
    if a.controller and a.controller == b.controller:
        links.append("same_controller")
    if (a.controller_credit_code and a.controller_credit_code == b.credit_code) or (
        b.controller_credit_code and b.controller_credit_code == a.credit_code
    ):
        links.append("one_controls_the_other")
    if (a.legal_representative and a.legal_representative == b.controller) or (
        b.legal_representative and b.legal_representative == a.controller
    ):
        links.append("representative_controls_the_other")
    return links
