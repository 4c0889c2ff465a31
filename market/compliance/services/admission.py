"""The admission commitment (入场承诺): an applicant organisation signs it before it is
admitted, and admission is refused (through the participants context's ``ADMITTING`` event)
while its latest commitment is missing or leaves a commitment unmade."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from market.compliance import repository
from market.compliance.domain import DeclarationKind
from market.compliance.errors import AdmissionCommitmentMissing
from market.compliance.models import Declaration
from market.compliance.services.declarations import sign_declaration
from market.kernel.actor import Role
from market.kernel.errors import RoleNotAllowed
from market.kernel.uow import UnitOfWork

ADMISSION_COMMITMENTS = ("qualifications_true", "complies_with_rules", "not_blacklisted",
                         "cooperates_with_supervision")


def commit_to_admission(answers: Mapping[str, Any], *, signature: str | None = None,
                        uow: UnitOfWork) -> Declaration:
    """The caller's organisation signs its admission commitment (admission@1).

    Raises:
        RoleNotAllowed: the exchange operator and regulators make none.
        InvalidDeclarationSignature: a signature was given and does not verify.
    """
    if uow.actor.has_role(Role.OPERATOR, Role.REGULATOR) or uow.actor.org_id is None:
        raise RoleNotAllowed()
    with uow:
        declaration = sign_declaration(DeclarationKind.ADMISSION, answers,
                                       subject_type="organisation",
                                       subject_id=uow.actor.org_id, signature=signature,
                                       uow=uow)
        uow.commit()
        return declaration


def on_admitting(uow: UnitOfWork, payload: Mapping[str, Any]) -> None:
    """Refuse to admit an applicant whose latest admission commitment is missing or does
    not make every commitment.

    Raises:
        AdmissionCommitmentMissing: no commitment, or one with a commitment unmade.
    """
    latest = repository.latest_admission_commitment(uow.session, payload["organisation_id"])
    if latest is None:
        raise AdmissionCommitmentMissing(
            "the applicant has not signed the admission commitment")
    unmade = [c for c in ADMISSION_COMMITMENTS if latest.answers.get(c) is not True]
    if unmade:
        raise AdmissionCommitmentMissing(
            "the admission commitment does not make: " + ", ".join(unmade),
            errors={"declaration_id": [latest.id]})
