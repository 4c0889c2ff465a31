"""Declarations and commitments (数据流通交易声明和承诺制): sign one about a subject under
the current template, read them with object-level visibility, record breaches against them
and keep each organisation's credit record."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from market.compliance import repository
from market.compliance.domain import (
    BREACH_POINTS,
    CURRENT_TEMPLATE,
    BreachSeverity,
    DeclarationKind,
    credit_score,
)
from market.compliance.errors import DeclarationNotFound, InvalidDeclarationSignature
from market.compliance.models import Declaration, DeclarationBreach, signed_document
from market.kernel import canonical
from market.kernel.actor import Role
from market.kernel.db import record
from market.kernel.errors import RoleNotAllowed
from market.kernel.ids import new_id
from market.kernel.pagination import Page, keyset_page, where_given
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.errors import OrganisationNotFound
from market.receipts import services as receipts


def declaration_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the RFC 8785 form of a declaration's signed document."""
    return hashlib.sha256(canonical.dumps(dict(document))).hexdigest()


def _signer_of(digest: str, signature: str) -> str:
    """The address whose key signed the digest (EIP-191 personal message of its hex)."""
    try:
        address: str = Account.recover_message(encode_defunct(text=digest), signature=signature)
    except Exception as exc:  # eth-account raises several types for malformed signatures
        raise InvalidDeclarationSignature(
            errors={"signature": ["does not recover to an address over this declaration"]},
        ) from exc
    return address


def sign_declaration(
    kind: DeclarationKind, answers: Mapping[str, Any], *, subject_type: str, subject_id: str,
    signature: str | None = None, uow: UnitOfWork,
) -> Declaration:
    """Record the caller's organisation's declaration about a subject under the current
    template, with the digest of what it signed. Runs in the caller's transaction.

    Raises:
        InvalidDeclarationSignature: a signature was given and does not verify.
    """
    actor = uow.actor
    assert actor.org_id is not None, "a declaration is made by an organisation"
    template = CURRENT_TEMPLATE[kind]
    document = signed_document(kind=kind.value, template=template.id, org_id=actor.org_id,
                               subject_type=subject_type, subject_id=subject_id,
                               answers=dict(answers))
    digest = declaration_digest(document)
    now = uow.clock.now()
    signer = _signer_of(digest, signature) if signature else None
    # Signed by a key the organisation registered and verified: vouched for (电子签名).
    key_id = (participants.vouching_key(actor.org_id, signer, at=now, uow=uow.joined())
              if signer else None)
    declaration = Declaration(
        id=new_id("dcl"), kind=kind.value, template=template.id, org_id=actor.org_id,
        user_id=actor.user_id, subject_type=subject_type, subject_id=subject_id,
        answers=dict(answers), sha256=digest, signer_address=signer,
        signature=signature, signed_at=now, vouched=key_id is not None,
        signing_key_id=key_id,
    )
    uow.session.add(declaration)
    uow.session.flush()
    uow.audit.record(actor, "declaration.signed", "declaration", declaration.id,
                     declaration.state())
    receipts.issue(uow, kind=receipts.Kind.DECLARATION, subject_type="declaration",
                   subject_id=declaration.id,
                   record={**declaration.state(), "document": document,
                           "signature": signature},
                   parties=[actor.org_id])
    return declaration


def declaration_of(subject_type: str, subject_id: str, *, uow: UnitOfWork) -> Any | None:
    """The latest declaration made about a subject, if any (a frozen record)."""
    found = repository.latest_declaration(uow.session, subject_type, subject_id)
    return record(found) if found is not None else None


def get_declaration_record(declaration_id: str, *, uow: UnitOfWork) -> Any | None:
    """A declaration by id (a frozen record), for the context that asked for it to be
    signed."""
    found = uow.session.get(Declaration, declaration_id)
    return record(found) if found is not None else None


def get_declaration(declaration_id: str, *, uow: UnitOfWork,
                    ) -> tuple[Declaration, list[DeclarationBreach]]:
    """One declaration with the breaches recorded against it.

    Raises:
        DeclarationNotFound: no such declaration, or another organisation's.
    """
    with uow:
        declaration = uow.session.scalars(
            repository.visible_declarations(uow.actor).where(Declaration.id == declaration_id)
        ).one_or_none()
        if declaration is None:
            raise DeclarationNotFound()
        return declaration, repository.breaches_of_declaration(uow.session, declaration.id)


def list_declarations(*, uow: UnitOfWork, kind: str | None = None, org: str | None = None,
                      subject_id: str | None = None, after: str | None = None,
                      limit: int = 50) -> Page[Declaration]:
    """Your organisation's declarations; everyone's for the operator, assessors, regulators."""
    with uow:
        stmt = where_given(repository.visible_declarations(uow.actor),
                                (Declaration.kind, kind), (Declaration.org_id, org),
                                (Declaration.subject_id, subject_id))
        return keyset_page(uow.session, stmt, Declaration.id, after=after, limit=limit)


def record_breach(declaration_id: str, severity: BreachSeverity, reason: str,
                  evidence_sha256: Sequence[str], *, uow: UnitOfWork) -> DeclarationBreach:
    """The operator records a breach of a declaration (违反承诺); it lowers the declarant's
    credit record.

    Raises:
        RoleNotAllowed: not the operator.
        DeclarationNotFound: no such declaration.
    """
    if not (uow.actor.is_system or uow.actor.has_role(Role.OPERATOR)):
        raise RoleNotAllowed()
    with uow:
        declaration = uow.session.get(Declaration, declaration_id)
        if declaration is None:
            raise DeclarationNotFound()
        breach = DeclarationBreach(
            id=new_id("brc"), declaration_id=declaration.id, org_id=declaration.org_id,
            severity=severity.value, reason=reason, evidence_sha256=sorted(set(evidence_sha256)),
            recorded_by_org_id=uow.actor.org_id or "system",
            recorded_by_user_id=uow.actor.user_id, recorded_at=uow.clock.now(),
        )
        uow.session.add(breach)
        uow.session.flush()
        uow.audit.record(uow.actor, "declaration.breached", "declaration_breach", breach.id,
                         breach.state())
        uow.outbox.enqueue("compliance.breach_recorded", {
            "breach_id": breach.id, "org_id": breach.org_id, "severity": breach.severity})
        uow.commit()
        return breach


@dataclass(frozen=True)
class CreditRecord:
    org_id: str
    score: int
    breaches: list[DeclarationBreach]


def credit_scores(org_ids: Sequence[str], *, uow: UnitOfWork) -> dict[str, int]:
    """The credit score of each organisation (public standing: what the rules and matching
    weigh), in one query."""
    breaches = repository.breach_severities(uow.session, org_ids)
    return {org: credit_score([BreachSeverity(s) for s in breaches.get(org, [])])
            for org in org_ids}


def breach_records(org_ids: Sequence[str], *, uow: UnitOfWork) -> dict[str, tuple[int, int]]:
    """(breaches, the points they take) of each organisation, in one query: what the
    public credit mark's breaches component is computed from."""
    breaches = repository.breach_severities(uow.session, org_ids)
    return {org: (len(breaches.get(org, [])),
                  sum(BREACH_POINTS[BreachSeverity(s)] for s in breaches.get(org, [])))
            for org in org_ids}


def credit_record(org_id: str, *, uow: UnitOfWork) -> CreditRecord:
    """An organisation's credit record (信用记录): 100 less the points of its breaches.

    Raises:
        OrganisationNotFound: no such organisation, or another one for a caller who is not
            staff.
    """
    with uow:
        if not repository.sees_everything(uow.actor) and org_id != uow.actor.org_id:
            raise OrganisationNotFound()
        if not participants.organisation_facts([org_id], uow=uow.joined()):
            raise OrganisationNotFound()
        breaches = repository.breaches_of_organisation(uow.session, org_id)
        return CreditRecord(org_id, credit_score([BreachSeverity(b.severity) for b in breaches]),
                            breaches)
