"""Qualification documents (主体资格) and the people behind an organisation (实名制): an
applicant submits its business licence, its legal representative's identity and its
data-security officer's appointment (by SHA-256, optionally uploaded), the operator verifies
or rejects each, and a renewal replaces the document it renews once verified.

Admission needs every required document verified and in force. The periodic duty reminds
an organisation of a document about to expire (``organisation.document_expiring``, once
per document and threshold), suspends an admitted organisation whose document has expired,
and a verified renewal restores it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select

from market.kernel.actor import Role, require
from market.kernel.db import present
from market.kernel.errors import RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.storage import FileStore, file_store, sharded
from market.kernel.uow import UnitOfWork
from market.participants import documents as rules
from market.participants.domain import Status, credit_code_problem
from market.participants.errors import (
    AdmissionDocumentsMissing,
    DocumentAlreadyReviewed,
    DocumentMismatch,
    DocumentNotFound,
    IdentityChangeNeedsOperator,
    InvalidCreditCode,
    InvalidIdentityNumber,
    OrganisationNotFound,
)
from market.participants.models import (
    DocumentReminder,
    Organisation,
    OrganisationDocument,
    OrganisationIdentity,
)
from market.participants.repository import ParticipantRepository
from market.participants.services._status import move_status

# The reason an organisation is suspended for an expired document starts with this; a
# verified renewal lifts only such a suspension.
EXPIRED_REASON = "admission document expired: "
EXPIRING_TOPIC = "organisation.document_expiring"


@dataclass(frozen=True)
class DocumentInput:
    kind: rules.DocumentKind
    name: str
    sha256: str
    issued_on: date | None = None
    expires_on: date | None = None
    media_type: str = "application/octet-stream"
    content: bytes | None = None


@dataclass(frozen=True)
class PersonInput:
    name: str
    id_number: str


@dataclass(frozen=True)
class ControllerInput:
    """The controlling shareholder (控股股东): a person (identity number) or an organisation
    (unified social credit code)."""

    name: str
    kind: str  # person or organisation
    identifier: str


@dataclass(frozen=True)
class IdentityInput:
    legal_representative: PersonInput | None = None
    controlling_shareholder: ControllerInput | None = None
    security_officer_name: str | None = None


@dataclass(frozen=True)
class Papers:
    """What an application (or the operator's registration) carries besides the
    organisation itself, and where to keep uploaded documents and the identity key."""

    documents: Sequence[DocumentInput] = ()
    identity: IdentityInput | None = None
    storage: FileStore | Path | None = None
    identity_key: bytes = field(default=b"", repr=False)


def identity_key_of(secret_key: str) -> bytes:
    """The key identity digests are made with, derived from the application's secret."""
    return hashlib.sha256(b"market identity digests\x00" + secret_key.encode()).digest()


# -- queries ----------------------------------------------------------------------------------


def _documents_of(uow: UnitOfWork, org_ids: Iterable[str]) -> dict[str, list[OrganisationDocument]]:
    found: dict[str, list[OrganisationDocument]] = {}
    ids = sorted(set(org_ids))
    if not ids:
        return found
    for doc in uow.session.scalars(select(OrganisationDocument).where(
            OrganisationDocument.organisation_id.in_(ids)).order_by(OrganisationDocument.id)):
        found.setdefault(doc.organisation_id, []).append(doc)
    return found


def _visible_org(uow: UnitOfWork, org_id: str, *, for_update: bool = False) -> Organisation:
    return present(ParticipantRepository(uow.session).get_org(org_id, uow.actor,
                                                              for_update=for_update),
                   OrganisationNotFound)


def _writer(uow: UnitOfWork, org_id: str) -> Organisation:
    """The organisation, when the caller may change its papers: itself or the operator."""
    if uow.actor.has_role(Role.REGULATOR):
        raise RoleNotAllowed()
    org = _visible_org(uow, org_id, for_update=True)
    if not (uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)
            or org.id == uow.actor.org_id):
        raise OrganisationNotFound()
    return org


# -- storing -----------------------------------------------------------------------------------


def _store(uow: UnitOfWork, org: Organisation, item: DocumentInput,
           storage: FileStore | Path | None, *, verified: bool) -> OrganisationDocument:
    problem = rules.dates_problem(item.issued_on, item.expires_on)
    if problem:
        raise DocumentMismatch(f"{item.name}: {problem}", errors={"expires_on": [problem]})
    size = None
    if item.content is not None:
        if hashlib.sha256(item.content).hexdigest() != item.sha256:
            raise DocumentMismatch(f"{item.name}: sha256 mismatch",
                                   errors={"sha256": [f"{item.name}: sha256 mismatch"]})
        size = len(item.content)
        if storage is not None:  # content-addressed, as rights evidence is kept
            file_store(storage).put(io.BytesIO(item.content), sharded)
    now = uow.clock.now()
    doc = OrganisationDocument(
        id=new_id("doc"), organisation_id=org.id, kind=item.kind.value, name=item.name,
        media_type=item.media_type, sha256=item.sha256, size=size,
        stored=item.content is not None and storage is not None, issued_on=item.issued_on,
        expires_on=item.expires_on, status=rules.DocumentStatus.SUBMITTED.value,
        submitted_by_org_id=uow.actor.org_id or uow.actor.label, submitted_at=now)
    uow.session.add(doc)
    uow.session.flush()
    uow.audit.record(uow.actor, "document.submitted", "document", doc.id, doc.state())
    if verified:
        _verify(uow, org, doc, "verified when the operator registered the organisation")
    return doc


def _verify(uow: UnitOfWork, org: Organisation, doc: OrganisationDocument, note: str) -> None:
    now = uow.clock.now()
    for earlier in _documents_of(uow, [org.id]).get(org.id, []):
        if (earlier.id != doc.id and earlier.kind == doc.kind
                and earlier.status == rules.DocumentStatus.VERIFIED.value):
            earlier.status = rules.DocumentStatus.SUPERSEDED.value
            doc.replaces_id = earlier.id
            uow.audit.record(uow.actor, "document.superseded", "document", earlier.id,
                             earlier.state())
    doc.status = rules.DocumentStatus.VERIFIED.value
    doc.reviewed_by_user_id, doc.reviewed_by_label = uow.actor.user_id, uow.actor.label
    doc.reviewed_at, doc.review_note = now, note
    uow.session.flush()
    uow.audit.record(uow.actor, "document.verified", "document", doc.id, doc.state())


def _identity_row(uow: UnitOfWork, org: Organisation, data: IdentityInput,
                  key: bytes) -> OrganisationIdentity:
    if not key:
        raise ValueError("an identity key is needed to record identities")
    row = uow.session.get(OrganisationIdentity, org.id) or OrganisationIdentity(
        organisation_id=org.id, updated_at=uow.clock.now())
    person = data.legal_representative
    if person is not None:
        problem = rules.identity_number_problem(person.id_number)
        if problem:
            raise InvalidIdentityNumber(problem, errors={
                "legal_representative": {"id_number": [problem]}})
        row.legal_representative_name = person.name
        row.legal_representative_digest = rules.identity_digest(key, "person",
                                                                person.id_number)
        row.legal_representative_hint = rules.masked(person.id_number)
    owner = data.controlling_shareholder
    if owner is not None:
        if owner.kind == "organisation":
            code = rules.normalise_id(owner.identifier)
            problem = credit_code_problem(code)
            if problem:
                raise InvalidCreditCode(problem, errors={
                    "controlling_shareholder": {"identifier": [problem]}})
            row.controller_credit_code, row.controller_hint = code, code
        else:
            problem = rules.identity_number_problem(owner.identifier)
            if problem:
                raise InvalidIdentityNumber(problem, errors={
                    "controlling_shareholder": {"identifier": [problem]}})
            row.controller_credit_code = None
            row.controller_hint = rules.masked(owner.identifier)
        row.controller_name, row.controller_kind = owner.name, owner.kind
        row.controller_digest = rules.identity_digest(key, owner.kind, owner.identifier)
    if data.security_officer_name is not None:
        row.security_officer_name = data.security_officer_name
    row.updated_at = uow.clock.now()
    uow.session.add(row)
    uow.session.flush()
    uow.audit.record(uow.actor, "organisation.identity_recorded", "organisation", org.id,
                     row.state())
    return row


def file_papers(uow: UnitOfWork, org: Organisation, papers: Papers, *,
                verified: bool) -> None:
    """Record an application's (or a registration's) documents and identities, in the
    caller's transaction; the operator's registration verifies its documents at once."""
    for item in papers.documents:
        _store(uow, org, item, papers.storage, verified=verified)
    if papers.identity is not None:
        _identity_row(uow, org, papers.identity, papers.identity_key)


# -- use cases ----------------------------------------------------------------------------------


def submit_document(org_id: str, item: DocumentInput, *, uow: UnitOfWork,
                    storage: FileStore | Path | None = None) -> OrganisationDocument:
    """An organisation (or the operator for it) submits a document, new or renewing one of
    the same kind; it counts once the operator verifies it.

    Raises:
        OrganisationNotFound: not the caller's organisation.
        RoleNotAllowed: a regulator.
        DocumentMismatch: the upload does not match its SHA-256, or the dates are wrong.
    """
    with uow:
        org = _writer(uow, org_id)
        doc = _store(uow, org, item, storage, verified=False)
        uow.commit()
        return doc


def review_document(org_id: str, document_id: str, verified: bool, note: str, *,
                    uow: UnitOfWork) -> OrganisationDocument:
    """The operator verifies a document against its original (or rejects it). A verified
    renewal supersedes the document it renews, and lifts a suspension its expiry caused.

    Raises:
        RoleNotAllowed: not the operator.
        OrganisationNotFound, DocumentNotFound.
        DocumentAlreadyReviewed: the document was verified or rejected before.
    """
    require(uow.actor, Role.OPERATOR)
    with uow:
        org = _visible_org(uow, org_id, for_update=True)
        doc = uow.session.get(OrganisationDocument, document_id)
        if doc is None or doc.organisation_id != org.id:
            raise DocumentNotFound()
        if doc.status != rules.DocumentStatus.SUBMITTED.value:
            raise DocumentAlreadyReviewed(errors={"status": [doc.status]})
        if verified:
            _verify(uow, org, doc, note)
            _restore_if_renewed(uow, org)
        else:
            doc.status = rules.DocumentStatus.REJECTED.value
            doc.reviewed_by_user_id, doc.reviewed_by_label = uow.actor.user_id, uow.actor.label
            doc.reviewed_at, doc.review_note = uow.clock.now(), note
            uow.session.flush()
            uow.audit.record(uow.actor, "document.rejected", "document", doc.id, doc.state())
        uow.commit()
        return doc


def list_documents(org_id: str, *, uow: UnitOfWork) -> list[OrganisationDocument]:
    """An organisation's documents, oldest first: its own, or any for the operator and
    regulators.

    Raises:
        OrganisationNotFound: unknown or not visible.
    """
    with uow:
        org = _visible_org(uow, org_id)
        return _documents_of(uow, [org.id]).get(org.id, [])


def record_identity(org_id: str, data: IdentityInput, *, uow: UnitOfWork,
                    identity_key: bytes) -> OrganisationIdentity:
    """An organisation (or the operator) records its legal representative, controlling
    shareholder and data-security officer, as its documents show them. Identity numbers
    are kept only as keyed digests and their last four characters.

    Once admitted, only the operator records a change (the related-party checks rely on
    these identities).

    Raises:
        OrganisationNotFound, RoleNotAllowed, IdentityChangeNeedsOperator.
        InvalidIdentityNumber, InvalidCreditCode: an identifier fails its check.
    """
    with uow:
        org = _writer(uow, org_id)
        by_staff = uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)
        if not by_staff and org.status != Status.APPLIED.value:
            raise IdentityChangeNeedsOperator(status=org.status)
        row = _identity_row(uow, org, data, identity_key)
        uow.commit()
        return row


def get_identity(org_id: str, *, uow: UnitOfWork) -> OrganisationIdentity | None:
    """The recorded identities of an organisation visible to the caller (never a number).

    Raises:
        OrganisationNotFound: unknown or not visible.
    """
    with uow:
        org = _visible_org(uow, org_id)
        return uow.session.get(OrganisationIdentity, org.id)


# -- admission, suspension and restoration ----------------------------------------------------


def check_admissible(uow: UnitOfWork, org: Organisation, target: Status) -> None:
    """Refuse admitting an applicant without every required document verified and in force,
    or reinstating an organisation while a verified document has expired unrenewed.

    Raises:
        AdmissionDocumentsMissing: naming each document and what is wrong with it.
    """
    if target is not Status.ADMITTED:
        return
    today = uow.clock.now().date()
    states = [d.snapshot() for d in _documents_of(uow, [org.id]).get(org.id, [])]
    if org.status == Status.APPLIED.value:
        missing = rules.shortfalls(states, today)
    else:
        missing = [rules.Shortfall(d.kind, "expired", d.id, d.expires_on)
                   for d in rules.lapsed(states, today)]
    if missing:
        raise AdmissionDocumentsMissing(
            "; ".join(s.describe() for s in missing),
            errors={"documents": [s.describe() for s in missing]})


def _suspended_for_documents(org: Organisation) -> bool:
    """Whether the organisation's current suspension is for an expired document (the reason
    of its latest status change, kept on the organisation)."""
    return (org.status == Status.SUSPENDED.value
            and (org.status_reason or "").startswith(EXPIRED_REASON))


def _restore_if_renewed(uow: UnitOfWork, org: Organisation) -> bool:
    if not _suspended_for_documents(org):
        return False
    states = [d.snapshot() for d in _documents_of(uow, [org.id]).get(org.id, [])]
    if rules.lapsed(states, uow.clock.now().date()):
        return False
    move_status(uow, org, Status.ADMITTED, "admission documents renewed")
    return True


@dataclass(frozen=True)
class DocumentDuties:
    reminded: list[str]  # document ids
    suspended: list[str]  # organisation ids
    restored: list[str]  # organisation ids

    def as_dict(self) -> dict[str, list[str]]:
        return {"documents_reminded": self.reminded, "suspended_for_documents": self.suspended,
                "restored_after_renewal": self.restored}


def run_document_duties(*, uow: UnitOfWork, reminder_days: Sequence[int]) -> DocumentDuties:
    """The periodic duty: remind of documents about to expire (once per document and
    threshold), suspend admitted organisations whose verified document has expired
    unrenewed (the reason names the document), and restore those suspended for an expiry
    whose renewal has been verified since."""
    reminded: list[str] = []
    suspended: list[str] = []
    restored: list[str] = []
    with uow:
        today = uow.clock.now().date()
        holders = list(uow.session.scalars(select(Organisation).where(
            Organisation.status.in_([Status.ADMITTED.value, Status.SUSPENDED.value]),
            Organisation.id.in_(select(OrganisationDocument.organisation_id).where(
                OrganisationDocument.status == rules.DocumentStatus.VERIFIED.value)))
            .order_by(Organisation.id)))
        docs = _documents_of(uow, [o.id for o in holders])
        sent = {(r.document_id, r.threshold_days) for r in uow.session.scalars(
            select(DocumentReminder).where(DocumentReminder.document_id.in_(
                [d.id for ds in docs.values() for d in ds])))}
        for org in holders:
            states = [d.snapshot() for d in docs.get(org.id, [])]
            for doc, threshold in rules.reminders_due(states, today, reminder_days, sent):
                uow.session.add(DocumentReminder(document_id=doc.id, threshold_days=threshold,
                                                 sent_at=uow.clock.now()))
                assert doc.expires_on is not None
                uow.outbox.enqueue(EXPIRING_TOPIC, {
                    "organisation_id": org.id, "document_id": doc.id, "kind": doc.kind,
                    "expires_on": doc.expires_on.isoformat(), "threshold_days": threshold,
                    "days_left": (doc.expires_on - today).days})
                uow.audit.record(uow.actor, "document.expiry_reminded", "document", doc.id,
                                 {"threshold_days": threshold,
                                  "expires_on": doc.expires_on.isoformat()})
                reminded.append(doc.id)
            gone = rules.lapsed(states, today)
            if gone and org.status == Status.ADMITTED.value:
                names = ", ".join(f"{d.kind} {d.id} (expired {d.expires_on})" for d in gone)
                move_status(uow, org, Status.SUSPENDED, EXPIRED_REASON + names)
                suspended.append(org.id)
            elif _restore_if_renewed(uow, org):
                restored.append(org.id)
        uow.commit()
    return DocumentDuties(reminded, suspended, restored)


# -- facts for other contexts -----------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """What the rules of other contexts ask of an organisation's papers, by value: the kinds
    of its verified documents that have expired unrenewed, and who stands behind it."""

    org_id: str
    expired_documents: tuple[str, ...]
    identity: rules.PartyIdentity


def standing(org_ids: Iterable[str], *, uow: UnitOfWork) -> dict[str, Standing]:
    """Each organisation's :class:`Standing`, in the caller's transaction."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    today = uow.clock.now().date()
    docs = _documents_of(uow, ids)
    found: dict[str, Standing] = {}
    for org_id, who in identities(ids, uow=uow).items():
        expired = rules.lapsed([d.snapshot() for d in docs.get(org_id, [])], today)
        found[org_id] = Standing(org_id, tuple(sorted(d.kind for d in expired)), who)
    return found


def relation(org_a: str, org_b: str, *, uow: UnitOfWork) -> list[str]:
    """How two organisations are related parties (关联方), by their recorded identities:
    empty when they are not (or nothing is recorded)."""
    found = identities([org_a, org_b], uow=uow)
    if org_a not in found or org_b not in found:
        return []
    return rules.relation_links(found[org_a], found[org_b])


def identities(org_ids: Iterable[str], *, uow: UnitOfWork) -> dict[str, rules.PartyIdentity]:
    """Who stands behind each organisation, in one query (for relations)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    rows = uow.session.execute(
        select(Organisation.id, Organisation.credit_code,
               OrganisationIdentity.legal_representative_digest,
               OrganisationIdentity.controller_digest,
               OrganisationIdentity.controller_credit_code)
        .outerjoin(OrganisationIdentity,
                   OrganisationIdentity.organisation_id == Organisation.id)
        .where(Organisation.id.in_(ids)))
    return {org_id: rules.PartyIdentity(org_id, code, rep, ctl, ctl_code)
            for org_id, code, rep, ctl, ctl_code in rows}
