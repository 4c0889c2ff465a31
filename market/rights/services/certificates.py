"""Registration certificates (登记证书): issued and signed by the platform when a right is
registered, numbered per year, and shown to anyone with the signature to check them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.receipts import services as receipts
from market.receipts.services import Signer
from market.rights.errors import CertificateNotFound
from market.rights.models import Certificate, Right
from market.rights.repository import RightsRepository


@dataclass(frozen=True)
class PublicCertificate:
    number: str
    kind: str
    holder_name: str
    subject_title: str
    valid_from: str
    valid_to: str | None
    issued_at: str
    status: str
    document: dict[str, Any]
    signature: dict[str, Any]
    receipts: list[dict[str, Any]]


def _issue_certificate(uow: UnitOfWork, repo: RightsRepository, right: Right,
                       signer: Signer) -> Certificate:
    now = uow.clock.now()
    number = f"DR-{now.year}-{repo.next_certificate_seq(now.year):06d}"
    holder = participants.organisation_facts([right.holder_org_id], uow=uow.joined())
    document = certificate_document(
        number=number, right=right, holder_name=holder[right.holder_org_id].name, issued_at=now
    )
    signature = signer.sign("certificate", number, document, now)
    certificate = Certificate(
        number=number, right_id=right.id, document=document, digest=signature.digest,
        signer=signature.signer, signature=signature.signature, issued_at=signature.issued_at,
    )
    right.certificate_number = number
    uow.session.add(certificate)
    uow.session.flush()
    uow.audit.record(uow.actor, "certificate.issued", "certificate", number,
                     {"right_id": right.id, "digest": signature.digest})
    receipts.issue(uow, kind=receipts.Kind.RIGHT_CERTIFICATE, subject_type="certificate",
                   subject_id=number,
                   # Public: the certificate's public fields and signature, nothing else.
                   record={"certificate": document, "digest": signature.digest,
                           "signer": signature.signer, "signature": signature.signature},
                   parties=[right.holder_org_id], public=True)
    return certificate


def certificate_document(*, number: str, right: Right, holder_name: str,
                         issued_at: datetime) -> dict[str, Any]:
    """The signed public content of a certificate; the status is live, so it is not in it."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat(timespec="seconds")

    return {
        "number": number,
        "kind": right.kind,
        "holder_name": holder_name,
        "subject_title": right.subject_title,
        "valid_from": iso(right.valid_from),
        "valid_to": iso(right.valid_to),
        "issued_at": iso(issued_at),
    }


def get_certificate(number: str, *, uow: UnitOfWork) -> PublicCertificate:
    """Public: what a certificate shows anyone, with the signature to check it.

    Raises:
        CertificateNotFound: no such number.
    """
    with uow:
        repo = RightsRepository(uow.session)
        certificate = repo.certificate(number)
        if certificate is None:
            raise CertificateNotFound()
        right = repo.rights_by_id([certificate.right_id])[certificate.right_id]
        doc = certificate.document
        return PublicCertificate(
            number=number, kind=doc["kind"], holder_name=doc["holder_name"],
            subject_title=doc["subject_title"], valid_from=doc["valid_from"],
            valid_to=doc["valid_to"], issued_at=doc["issued_at"], status=right.status,
            document=doc,
            signature={
                "scheme": "eip712", "kind": "certificate", "subject": number,
                "digest": certificate.digest, "issued_at": certificate.issued_at,
                "signer": certificate.signer, "signature": certificate.signature,
            },
            receipts=receipts.receipts_of(uow.joined(), "certificate", [number])[number],
        )
