"""Registration certificates (登记证书): signed public documents anyone can check with a
standard EIP-712 library, showing live status but nothing private about the holder."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from datetime import timedelta
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.datatypes import Signature as RawSignature
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from market.kernel.actor import ANONYMOUS, Actor, system_actor
from market.kernel.clock import FixedClock
from market.kernel.uow import UnitOfWork
from market.participants import services as participants
from market.participants.domain import random_credit_code
from market.participants.models import Organisation
from market.receipts import services as receipts
from market.receipts.signing import Signer, document_digest, verify
from market.rights import services
from market.rights.domain import (
    Classification,
    EvidenceKind,
    Origin,
    PILevel,
    RightKind,
    RightStatus,
)
from market.rights.errors import CertificateNotFound
from market.rights.models import Certificate, CertificateCounter
from tests.conftest import START, TEST_SIGNING_KEY, Party
from tests.integration.rights_fixtures import (  # noqa: F401
    HOLDING_TERM,
    WIDE,
    RightsWorld,
    actor_for,
    evidence,
    rights_fixture,
    signer_fixture,
)

requires_postgres = pytest.mark.skipif(
    not os.environ.get("MARKET_TEST_DATABASE_URL"),
    reason="concurrent certificate issuers need a real PostgreSQL (set "
           "MARKET_TEST_DATABASE_URL, e.g. scripts/with-postgres); SQLite serialises writers",
)

DOCUMENT_KEYS = ["number", "kind", "holder_name", "subject_title", "valid_from", "valid_to",
                 "issued_at"]
PUBLIC_FIELDS = {"number", "kind", "holder_name", "subject_title", "valid_from", "valid_to",
                 "issued_at", "status", "document", "signature", "receipts"}


def public(rights: RightsWorld, number: str) -> services.PublicCertificate:
    """The certificate as anyone, without credentials, sees it."""
    return services.get_certificate(
        number, uow=UnitOfWork(rights.session_factory, rights.clock, ANONYMOUS))


def right_of(rights: RightsWorld, number: str) -> str:
    with rights.session_factory() as session:
        certificate = session.get(Certificate, number)
        assert certificate is not None
        return certificate.right_id


def verifies(cert: services.PublicCertificate, signer: str, *,
             document: dict[str, Any] | None = None, issued_at: int | None = None,
             signature: str | None = None, subject: str | None = None,
             kind: str = "certificate") -> bool:
    sig = cert.signature
    return verify(kind, subject or sig["subject"], cert.document if document is None else document,
                  sig["issued_at"] if issued_at is None else issued_at,
                  signature or sig["signature"], signer)


@pytest.fixture
def certified(rights: RightsWorld) -> services.PublicCertificate:
    """A registered resource holding right with an open-ended term, and its certificate."""
    holder = rights.party("holder")
    resource = rights.resource(holder, title="城市交通流量数据")
    right = rights.register(holder, RightKind.RESOURCE_HOLDING, scope=WIDE,
                            term=dataclasses.replace(HOLDING_TERM, valid_to=None),
                            resource_id=resource.id)
    assert right.certificate_number is not None
    return public(rights, right.certificate_number)


def test_a_certificate_verifies_against_the_platform_address(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    sig = certified.signature

    assert verifies(certified, rights.signer.address)
    assert verifies(certified, rights.signer.address.lower())
    assert not verifies(certified, Signer("0x" + "11" * 32).address)
    assert (sig["scheme"], sig["kind"], sig["subject"], sig["signer"]) == (
        "eip712", "certificate", certified.number, rights.signer.address)
    assert sig["digest"] == document_digest(certified.document)
    assert sig["issued_at"] == int(START.timestamp())
    assert certified.document["issued_at"] == "2026-11-21T09:00:00+00:00"


def test_the_document_holds_exactly_the_signed_fields(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    doc = certified.document

    assert sorted(doc) == sorted(DOCUMENT_KEYS)
    assert doc == {
        "number": "DR-2026-000001", "kind": "resource_holding",
        "holder_name": "holder 公司", "subject_title": "城市交通流量数据",
        "valid_from": "2026-11-21T09:00:00+00:00", "valid_to": None,
        "issued_at": "2026-11-21T09:00:00+00:00",
    }
    assert (certified.kind, certified.holder_name, certified.subject_title) == (
        doc["kind"], doc["holder_name"], doc["subject_title"])
    assert (certified.valid_from, certified.valid_to, certified.issued_at) == (
        doc["valid_from"], doc["valid_to"], doc["issued_at"])


@pytest.mark.parametrize("key", DOCUMENT_KEYS)
def test_altering_any_field_of_the_document_breaks_the_signature(
    rights: RightsWorld, certified: services.PublicCertificate, key: str
) -> None:
    original = certified.document[key]
    altered = {**certified.document,
               key: "2099-01-01T00:00:00+00:00" if original is None else original + "x"}

    assert not verifies(certified, rights.signer.address, document=altered)
    # even a change of representation only (the same text, re-typed) is caught
    if original is not None:
        assert not verifies(certified, rights.signer.address,
                            document={**certified.document, key: [original]})


def test_adding_or_removing_a_field_breaks_the_signature(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    added = {**certified.document, "status": "registered"}
    removed = {k: v for k, v in certified.document.items() if k != "valid_to"}

    assert not verifies(certified, rights.signer.address, document=added)
    assert not verifies(certified, rights.signer.address, document=removed)


def test_key_order_and_whitespace_do_not_matter(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    reordered = dict(reversed(list(certified.document.items())))
    round_tripped = json.loads(json.dumps(certified.document, indent=4, ensure_ascii=True))

    assert verifies(certified, rights.signer.address, document=reordered)
    assert verifies(certified, rights.signer.address, document=round_tripped)


def test_altering_the_digest_breaks_the_signature(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    sig = certified.signature
    digest = bytearray(bytes.fromhex(sig["digest"]))
    digest[0] ^= 0x01

    assert document_digest(certified.document) != digest.hex()
    assert recover(sig, digest=digest.hex()) != rights.signer.address
    assert recover(sig) == rights.signer.address


@pytest.mark.parametrize("delta", [-1, 1, 3600])
def test_altering_issued_at_breaks_the_signature(
    rights: RightsWorld, certified: services.PublicCertificate, delta: int
) -> None:
    issued_at = certified.signature["issued_at"] + delta
    assert not verifies(certified, rights.signer.address, issued_at=issued_at)


def test_the_signature_binds_the_number_and_the_kind(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    assert not verifies(certified, rights.signer.address, subject="DR-2026-000002")
    assert not verifies(certified, rights.signer.address, kind="receipt")


def _signature_bytes(cert: services.PublicCertificate) -> bytes:
    raw = bytes.fromhex(cert.signature["signature"].removeprefix("0x"))
    assert len(raw) == 65
    return raw


@pytest.mark.parametrize("mask", [0x01, 0x80], ids=["low bit", "high bit"])
def test_altering_any_byte_of_r_or_s_is_refused_without_raising(
    rights: RightsWorld, certified: services.PublicCertificate, mask: int
) -> None:
    raw = _signature_bytes(certified)
    accepted, raised = [], []
    for i in range(64):
        tampered = bytearray(raw)
        tampered[i] ^= mask
        try:
            if verifies(certified, rights.signer.address, signature="0x" + tampered.hex()):
                accepted.append(i)
        except Exception as exc:  # a verifier must answer, not crash
            raised.append((i, type(exc).__name__))

    assert (accepted, raised) == ([], [])


def test_a_signature_verifies_only_with_the_recovery_byte_it_was_issued_with(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    raw = _signature_bytes(certified)
    assert raw[64] in (27, 28)
    accepted = []
    for v in range(256):
        if v == raw[64]:
            continue
        try:
            if verifies(certified, rights.signer.address,
                        signature="0x" + (raw[:64] + bytes([v])).hex()):
                accepted.append(v)
        except Exception:  # refusing by raising is checked by the test above
            continue

    assert accepted == []


def test_malformed_signatures_are_refused(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    raw = _signature_bytes(certified)
    for bad in ("0x", "0x" + raw[:64].hex(), "0x" + (raw + b"\x00").hex(), "not hex"):
        assert not verifies(certified, rights.signer.address, signature=bad)


# -- what the public sees --------------------------------------------------------------------


def test_a_certificate_shows_only_public_fields(rights: RightsWorld) -> None:
    chain = rights.chain()
    certificate = public(rights, chain.use.certificate_number or "")
    with rights.session_factory() as session:
        orgs = {o.id: o for o in session.scalars(select(Organisation))}
    shown = json.dumps(dataclasses.asdict(certificate), ensure_ascii=False, default=str)
    (receipt,) = certificate.receipts
    shown += json.dumps(receipts.get_receipt(receipt["id"], uow=UnitOfWork(
        rights.session_factory, rights.clock, ANONYMOUS)), ensure_ascii=False, default=str)

    assert {f.name for f in dataclasses.fields(certificate)} == PUBLIC_FIELDS
    assert (certificate.kind, certificate.holder_name, certificate.status) == (
        "processing_use", orgs[chain.grantee.org_id].name, "registered")
    for org in orgs.values():
        assert org.id not in shown
        assert org.credit_code not in shown
        assert org.contact_email not in shown
    for secret in (chain.grantee.user_id, chain.use.id, chain.grant.id, chain.resource.id,
                   chain.holding.id):
        assert secret not in shown


def test_the_status_is_live_and_outside_the_signature(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    number = certified.number
    right_id = right_of(rights, number)

    for target, reason in ((RightStatus.SUSPENDED, "核查"), (RightStatus.REGISTERED, "核查完毕"),
                           (RightStatus.REVOKED, "放弃")):
        services.change_right_status(right_id, target, reason, uow=rights.uow(rights.operator))
        now = public(rights, number)
        assert now.status == target.value
        assert (now.document, now.signature) == (certified.document, certified.signature)
        assert verifies(now, rights.signer.address)


def test_an_unknown_number_is_not_found(rights: RightsWorld) -> None:
    with pytest.raises(CertificateNotFound):
        public(rights, "DR-2026-999999")


def test_every_registered_right_has_its_own_certificate(rights: RightsWorld) -> None:
    chain = rights.chain()
    numbers = [rights.right(r).certificate_number for r in chain.ids]

    assert numbers == ["DR-2026-000001", "DR-2026-000002", "DR-2026-000003"]
    for number, right_id, kind in zip(numbers, chain.ids, RightKind, strict=True):
        certificate = public(rights, number or "")
        assert (right_of(rights, number or ""), certificate.kind) == (right_id, kind.value)
        assert verifies(certificate, rights.signer.address)


# -- standard EIP-712 ------------------------------------------------------------------------

EIP712_TYPES = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
    "Receipt": [{"name": "kind", "type": "string"}, {"name": "subject", "type": "string"},
                {"name": "digest", "type": "bytes32"}, {"name": "issuedAt", "type": "uint64"}],
}


def recover(sig: dict[str, Any], *, digest: str | None = None) -> str:
    """The signer, recovered with eth_account from the standard EIP-712 JSON message."""
    message = {
        "types": EIP712_TYPES,
        "primaryType": "Receipt",
        "domain": {"name": "market", "version": "1"},
        "message": {"kind": sig["kind"], "subject": sig["subject"],
                    "digest": "0x" + (digest or sig["digest"]),
                    "issuedAt": sig["issued_at"]},
    }
    signable = encode_typed_data(full_message=message)
    return str(Account.recover_message(signable, signature=sig["signature"]))


def test_an_eip712_library_recovers_the_platform_address(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    assert recover(certified.signature) == rights.signer.address
    assert rights.signer.address == Account.from_key(TEST_SIGNING_KEY).address


def test_the_signed_hash_is_the_eip712_hash_computed_by_hand(
    rights: RightsWorld, certified: services.PublicCertificate
) -> None:
    sig = certified.signature

    def type_hash(text: str) -> bytes:
        return keccak(text=text)

    domain_separator = keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32"],
        [type_hash("EIP712Domain(string name,string version)"), keccak(text="market"),
         keccak(text="1")]))
    struct_hash = keccak(abi_encode(
        ["bytes32", "bytes32", "bytes32", "bytes32", "uint64"],
        [type_hash("Receipt(string kind,string subject,bytes32 digest,uint64 issuedAt)"),
         keccak(text="certificate"), keccak(text=certified.number),
         bytes.fromhex(document_digest(certified.document)), sig["issued_at"]]))
    signed_hash = keccak(b"\x19\x01" + domain_separator + struct_hash)
    raw = _signature_bytes(certified)

    recovered = RawSignature(raw[:64] + bytes([raw[64] - 27])).recover_public_key_from_msg_hash(
        signed_hash)

    assert recovered.to_checksum_address() == rights.signer.address


# -- concurrency (PostgreSQL) ----------------------------------------------------------------


def _committed_party(factory: sessionmaker[Session], clock: FixedClock, role: str,
                     n: int) -> Actor:
    code = random_credit_code()
    data = participants.OrganisationInput(
        name=f"{role} {n}", credit_code=code, contact_name=f"contact {n}",
        contact_email=f"{role}{n}-{code.lower()}@example.cn", roles=frozenset({role}))
    reg = participants.register_organisation(
        data, uow=UnitOfWork(factory, clock, system_actor("test")),
        key_ttl=timedelta(days=30), reason="test")
    return actor_for(Party(reg.organisation.id, reg.user.id, reg.api_key.key.id,
                           reg.api_key.token, (role,)))


@requires_postgres
@pytest.mark.postgres
def test_concurrent_approvals_get_distinct_gap_free_numbers(
    committed_session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    factory, signer = committed_session_factory, Signer(TEST_SIGNING_KEY)
    operator = _committed_party(factory, clock, "operator", 0)
    threads_count, per_thread = 8, 3
    holders = [_committed_party(factory, clock, "merchant", n + 1) for n in range(threads_count)]

    def uow(actor: Actor) -> UnitOfWork:
        return UnitOfWork(factory, clock, actor)

    claimed: dict[int, list[str]] = {}
    for n, holder in enumerate(holders):
        claimed[n] = []
        for i in range(per_thread):
            resource = services.register_resource(services.ResourceInput(
                title=f"资源 {n}-{i}", description="d", origin=Origin.ENTERPRISE,
                classification=Classification.GENERAL, pi_level=PILevel.NONE,
                collection_method="m", collection_source="s", scenarios=["finance"],
                update_frequency="daily",
                evidence=[evidence(EvidenceKind.SOURCE_LEGALITY)]), uow=uow(holder))
            right = services.submit_right(services.RightInput(
                kind=RightKind.RESOURCE_HOLDING, scope=WIDE, term=HOLDING_TERM,
                resource_id=resource.id), uow=uow(holder))
            services.claim_review(right.id, uow=uow(operator))
            claimed[n].append(right.id)

    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []
    issued: list[str] = []
    lock = threading.Lock()

    def approve(n: int) -> None:
        try:
            start.wait(timeout=30)
            for right_id in claimed[n]:
                right = services.decide_review(right_id, approve=True, reason="ok",
                                               uow=uow(operator), signer=signer)
                with lock:
                    issued.append(right.certificate_number or "")
        except BaseException as exc:  # surfaced below
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=approve, args=(n,)) for n in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    total = threads_count * per_thread
    assert not errors, errors
    assert sorted(issued) == [f"DR-2026-{seq:06d}" for seq in range(1, total + 1)]
    with factory() as session:
        certificates = list(session.scalars(select(Certificate)))
        counter = session.get(CertificateCounter, 2026)
        assert counter is not None
        assert counter.last == total
    assert len({c.right_id for c in certificates}) == total
    assert all(verify("certificate", c.number, c.document, c.issued_at, c.signature,
                      signer.address) for c in certificates)
