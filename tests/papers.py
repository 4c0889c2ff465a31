"""Admission papers for tests: the qualification documents (主体资格) an application
carries and the people behind an organisation (实名制), for the HTTP edge and the
services, and a valid resident identity number (GB 11643 check character)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import date
from typing import Any

from flask.testing import FlaskClient

from market.participants import services as participants
from market.participants.documents import DocumentKind

FAR = date(2036, 12, 31)
ISSUED = date(2020, 1, 1)
TEST_IDENTITY_KEY = participants.identity_key_of("test-secret-key-0123456789abcdef")
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def resident_id(serial: int) -> str:
    """A resident identity number with a correct check character (GB 11643)."""
    first17 = f"11010519900101{serial % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def content(kind: str, n: int = 0) -> bytes:
    return f"{kind} scan #{n}".encode()


def document(kind: DocumentKind | str, *, n: int = 0, expires_on: date | None = FAR,
             upload: bool = False) -> dict[str, Any]:
    """One document as the API takes it."""
    body = content(str(kind), n)
    found: dict[str, Any] = {
        "kind": str(kind), "name": f"{kind}-{n}.pdf", "media_type": "application/pdf",
        "sha256": hashlib.sha256(body).hexdigest(), "issued_on": ISSUED.isoformat(),
        "expires_on": expires_on.isoformat() if expires_on else None}
    if upload:
        found["content_base64"] = base64.b64encode(body).decode()
    return found


def application_papers(*, serial: int = 1, expires_on: date | None = FAR) -> dict[str, Any]:
    """What an application carries besides the organisation: every required document and
    the legal representative, controlling shareholder and data-security officer."""
    return {
        "documents": [document(k, expires_on=expires_on) for k in DocumentKind],
        "legal_representative": {"name": "张法人", "id_number": resident_id(serial)},
        "controlling_shareholder": {"name": "李控股", "kind": "person",
                                    "identifier": resident_id(serial + 500)},
        "data_security_officer": {"name": "王安全"},
    }


def document_input(kind: DocumentKind, *, n: int = 0,
                   expires_on: date | None = FAR) -> participants.DocumentInput:
    body = content(kind.value, n)
    return participants.DocumentInput(kind=kind, name=f"{kind.value}-{n}.pdf",
                                      sha256=hashlib.sha256(body).hexdigest(),
                                      issued_on=ISSUED, expires_on=expires_on)


def papers(*, expires_on: date | None = FAR, kinds: Iterable[DocumentKind] = tuple(DocumentKind),
           representative: str | None = None, controller: tuple[str, str] | None = None,
           ) -> participants.Papers:
    """Papers for the services: documents of ``kinds`` and, when given, the legal
    representative's identity number and the controlling shareholder (kind, identifier)."""
    identity = None
    if representative is not None or controller is not None:
        identity = participants.IdentityInput(
            legal_representative=participants.PersonInput("法定代表人", representative)
            if representative else None,
            controlling_shareholder=participants.ControllerInput("控股股东", *controller)
            if controller else None)
    return participants.Papers(
        documents=[document_input(k, expires_on=expires_on) for k in kinds], identity=identity,
        identity_key=TEST_IDENTITY_KEY)


def verify_documents(client: FlaskClient, operator_headers: dict[str, str], org_id: str,
                     ) -> list[dict[str, Any]]:
    """The operator verifies every submitted document of ``org_id``; returns them."""
    listed = client.get(f"/api/v1/organisations/{org_id}/documents", headers=operator_headers)
    assert listed.status_code == 200, listed.json
    done = []
    for doc in listed.json["items"]:
        if doc["status"] != "submitted":
            continue
        answer = client.post(f"/api/v1/organisations/{org_id}/documents/{doc['id']}/review",
                             json={"decision": "verified", "note": "与原件核对一致"},
                             headers=operator_headers)
        assert answer.status_code == 200, answer.json
        done.append(answer.json)
    return done
