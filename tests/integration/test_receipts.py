"""Receipts over the real services and database: every important record of a trade gets a
receipt in its own transaction; the sequencer appends them to the Merkle log and signs a
checkpoint; the proof bundle verifies with the stand-alone verifier, for both suites, and
still verifies as what was true when the record later changes; tampering is named; readers
are the parties, the regulator and the operator (anyone, for public records)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from market.kernel.actor import ANONYMOUS, system_actor
from market.kernel.config import Settings
from market.kernel.uow import UnitOfWork
from market.listing import services as listing
from market.listing.domain import ListingStatus
from market.participants.models import Organisation
from market.receipts import merkle, verifier
from market.receipts import services as receipts
from market.receipts.errors import LogSizeInvalid, ReceiptNotFound
from market.receipts.models import Checkpoint, LogEntry, LogHead, Receipt, ReceiptQueue
from market.settlement.errors import InsufficientFunds
from market.trading import services as trading
from market.trading.domain import DisputeOutcome
from tests.conftest import TEST_SECRET, TEST_SIGNING_KEY, CountQueries, Party
from tests.integration.rights_fixtures import (  # noqa: F401
    rights_fixture,
    signer_fixture,
)
from tests.integration.test_listing_services import _wired  # noqa: F401
from tests.integration.trading_fixtures import PRICE, Market, market_fixture  # noqa: F401

SM2_KEY = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"


def _receipts(market: Market, subject_type: str | None = None,
              subject_id: str | None = None) -> list[Receipt]:
    with market.rights.session_factory() as session:
        stmt = select(Receipt).order_by(Receipt.id)
        if subject_type:
            stmt = stmt.where(Receipt.subject_type == subject_type)
        if subject_id:
            stmt = stmt.where(Receipt.subject_id == subject_id)
        found = list(session.scalars(stmt))
        session.expunge_all()
        return found


def _count(market: Market, model: Any) -> int:
    with market.rights.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _sequence(market: Market) -> receipts.Appended:
    return receipts.sequence(UnitOfWork(market.rights.session_factory, market.rights.clock,
                                        system_actor("sequencer")))


def _bundle(market: Market, receipt_id: str, party: Party | None = None) -> dict[str, Any]:
    uow = market.uow(party) if party else UnitOfWork(
        market.rights.session_factory, market.rights.clock, system_actor("test"))
    return receipts.proof_bundle(receipt_id, uow=uow)


def _identity() -> str:
    return receipts.issuer().suite.identity


def _report(bundle: dict[str, Any]) -> verifier.Report:
    return verifier.verify_bundle(bundle, trusted_signer=_identity())


@pytest.fixture
def sm2_suite(tmp_path: Any) -> Iterator[receipts.Issuer]:
    """Sign with SM2/SM3 for one test, then go back to the default suite."""
    base = Settings(instance_path=tmp_path, database_url="sqlite://", secret_key=TEST_SECRET,
                    signing_key=TEST_SIGNING_KEY)
    yield receipts.configure(base.with_changes(receipt_suite="sm2-sm3", sm2_signing_key=SM2_KEY))
    receipts.configure(base)


# -- issuing -----------------------------------------------------------------------------


def test_a_trade_issues_a_receipt_for_every_important_record(market: Market) -> None:
    order = market.trade()
    by_order = {r.kind for r in _receipts(market, "order", order.id)}
    assert by_order == {"order.contract", "settlement.escrow_payment", "settlement.settlement"}
    (filing,) = market.filings(order.id)
    assert [r.kind for r in _receipts(market, "filing", filing.id)] == ["compliance.filing"]
    kinds = {r.kind for r in _receipts(market)}
    assert {"right.certificate", "listing.approval", "compliance.declaration"} <= kinds
    # every receipt waits for the log, in issue order
    queued = _count(market, ReceiptQueue)
    assert queued == len(_receipts(market)) > 0


def test_a_refund_and_a_dispute_decision_get_their_receipts(market: Market) -> None:
    order = market.place(market.listed())
    market.pay(order)
    buyer = market.party_of(order.buyer_org_id)
    dispute = trading.open_dispute(order.id, "迟迟未交付", ["ab" * 32], policy=market.policy,
                                   uow=market.uow(buyer))
    trading.answer_dispute(dispute.id, "已在处理", ["cd" * 32],
                           uow=market.uow(market.party_of(order.seller_org_id)))
    trading.decide_dispute(dispute.id, DisputeOutcome.FULL_REFUND, "经核查",
                           uow=market.uow(market.rights.operator))
    found = {r.kind: r for r in _receipts(market, "order", order.id)}
    assert set(found) == {"order.contract", "settlement.escrow_payment",
                          "order.dispute_decision", "settlement.refund"}
    decision = found["order.dispute_decision"].body["record"]
    assert (decision["outcome"], decision["refund_amount"]) == ("full_refund", PRICE)
    assert found["settlement.refund"].body["record"]["amount"] == PRICE
    assert found["settlement.refund"].parties == sorted([order.buyer_org_id,
                                                         order.seller_org_id])


def test_a_settlement_receipt_carries_its_allocations(market: Market) -> None:
    order = market.trade()
    (settled,) = [r for r in _receipts(market, "order", order.id)
                  if r.kind == "settlement.settlement"]
    record = settled.body["record"]
    assert sum(a["amount"] for a in record["allocations"]) == record["price"] == PRICE
    assert {a["role"] for a in record["allocations"]} >= {"platform"}
    assert {a["org_id"] for a in record["allocations"]} == {
        a.org_id for a in market.allocations(order.id)}


def test_issuing_takes_no_lock_on_the_log(market: Market, count_queries: CountQueries) -> None:
    """A trade's transaction writes its receipt and queue row and never touches the log's
    head, nodes or entries: only the sequencer does, so trades never queue on the log."""
    order = market.place(market.listed())
    with count_queries() as counted:
        market.pay(order)
    touching = [q for q in counted.queries if "receipt" in q]
    assert [q.split("(")[0].strip() for q in touching] == [
        "INSERT INTO receipts", "INSERT INTO receipt_queue"], str(counted)
    assert not [q for q in counted.queries if "receipt_log" in q]


def test_a_use_case_that_fails_leaves_no_receipt(market: Market) -> None:
    poor = market.buyer("poor", funds=PRICE // 2)
    order = market.place(market.listed(), poor)
    before = len(_receipts(market)), _count(market, ReceiptQueue)
    with pytest.raises(InsufficientFunds):
        market.pay(order, poor)
    assert (len(_receipts(market)), _count(market, ReceiptQueue)) == before


def test_a_receipt_body_is_versioned_hashed_and_signed(market: Market) -> None:
    order = market.place(market.listed())
    (receipt,) = _receipts(market, "order", order.id)
    body = receipt.body
    assert (body["v"], body["id"], body["suite"], body["kind"], body["subject"]) == (
        1, receipt.id, "secp256k1-sha256", "order.contract", f"order:{order.id}")
    assert body["log"] == "market.example/receipts/secp256k1-sha256"
    h = verifier.suite_hash(receipt.suite)
    assert h(verifier.dumps(body)).hex() == receipt.digest
    assert verifier.verify_receipt_signature(receipt.suite, receipt.kind, body["subject"],
                                             receipt.digest, body["issued_at"], receipt.signer,
                                             receipt.signature)
    assert receipt.signer == _identity()


def test_receipts_are_append_only(market: Market) -> None:
    market.place(market.listed())
    receipt = _receipts(market)[0]
    rewrite = update(Receipt).where(Receipt.id == receipt.id).values(digest="00" * 32)
    with market.rights.session_factory() as session, pytest.raises(DBAPIError):
        session.execute(rewrite)


# -- the log -----------------------------------------------------------------------------


def test_the_sequencer_appends_in_issue_order_and_signs_a_checkpoint(
    market: Market, count_queries: CountQueries
) -> None:
    market.trade()
    with market.rights.session_factory() as session:
        issued = list(session.scalars(select(ReceiptQueue.receipt_id).order_by(ReceiptQueue.seq)))
    appended = _sequence(market)
    assert (appended.from_size, appended.tree_size) == (0, len(issued))
    assert _count(market, ReceiptQueue) == 0
    with market.rights.session_factory() as session:
        entries = session.execute(select(LogEntry.receipt_id).order_by(LogEntry.leaf_index))
        assert [e[0] for e in entries] == issued
        head = session.get(LogHead, "secp256k1-sha256")
        assert head is not None
        assert head.size == len(issued)
        checkpoint = session.scalars(select(Checkpoint)).one()
    digest_of = {r.id: r.digest for r in _receipts(market)}
    digests = [bytes.fromhex(digest_of[i]) for i in issued]
    h = verifier.sha256
    expected = merkle.root(h, [verifier.leaf_hash(h, d) for d in digests])
    assert checkpoint.root == head.root == appended.root == expected.hex()
    parsed = verifier.open_checkpoint(checkpoint.note, suite="secp256k1-sha256",
                                      origin=checkpoint.origin, public_key=_identity())
    assert (parsed.tree_size, parsed.root, parsed.suite) == (
        len(issued), expected, "secp256k1-sha256")
    # nothing queued: nothing appended, no new checkpoint, nothing written at all
    with count_queries() as counted:
        again = _sequence(market)
    assert (again.from_size, again.tree_size, again.checkpoint_id, again.root) == (
        len(issued), len(issued), None, head.root)
    assert all(q.split()[0] == "SELECT" for q in counted.queries), str(counted)


def test_a_proof_bundle_verifies_offline_and_names_what_was_tampered(market: Market) -> None:
    order = market.trade()
    _sequence(market)
    receipt = next(r for r in _receipts(market, "order", order.id)
                   if r.kind == "settlement.settlement")
    bundle = _bundle(market, receipt.id, market.party_of(order.buyer_org_id))
    assert bundle["log"]["leaf_index"] >= 0
    assert bundle["anchor"] is None
    report = _report(bundle)
    assert report.ok, report.as_dict()

    def tampered(path: tuple[Any, ...], value: Any) -> str | None:
        changed = copy.deepcopy(bundle)
        target = changed
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return _report(changed).failed

    record = bundle["receipt"]["body"]["record"]
    assert tampered(("receipt", "body", "record", "price"), record["price"] + 1) == "body"
    assert tampered(("receipt", "digest"), "00" * 32) == "body"
    value = bundle["receipt"]["signature"]["value"]
    assert tampered(("receipt", "signature", "value"),
                    value[:-4] + ("1c" if value.endswith("1b") else "1b")) == "signature"
    first = bundle["log"]["inclusion_proof"][0]
    assert tampered(("log", "inclusion_proof", 0),
                    ("0" if first[0] != "0" else "1") + first[1:]) == "inclusion"
    assert tampered(("log", "leaf_index"), bundle["log"]["leaf_index"] + 1) == "inclusion"
    note = bundle["log"]["checkpoint"]
    assert tampered(("log", "checkpoint"), note.replace("\n", "\n\n", 1)) == "checkpoint"


def test_a_receipt_for_a_record_later_changed_still_verifies_as_it_was(market: Market) -> None:
    chain = market.listed()
    version_id = next(r.subject_id for r in _receipts(market, "product_version"))
    listing.change_listing_status(chain.product_id, ListingStatus.SUSPENDED, "核查中",
                                  uow=market.uow(market.rights.operator))
    _sequence(market)
    (approval,) = _receipts(market, "product_version", version_id)
    bundle = _bundle(market, approval.id)
    assert bundle["receipt"]["body"]["record"]["status"] == "listed"
    assert _report(bundle).ok


def test_consistency_proofs_link_every_pair_of_checkpoints(market: Market) -> None:
    sizes = []
    for _ in range(3):
        market.place(market.listed())
        sizes.append(_sequence(market).tree_size)
    uow = lambda: UnitOfWork(market.rights.session_factory, market.rights.clock,  # noqa: E731
                             ANONYMOUS)
    h = verifier.sha256
    for first in range(1, sizes[-1] + 1):
        for second in (s for s in sizes if s >= first):
            proof = receipts.consistency("secp256k1-sha256", first, second, uow=uow())
            assert verifier.verify_consistency(
                h, first, second, [bytes.fromhex(p) for p in proof["proof"]],
                bytes.fromhex(proof["first_root"]), bytes.fromhex(proof["second_root"]))
    with market.rights.session_factory() as session:
        roots = dict(session.execute(select(Checkpoint.tree_size, Checkpoint.root)).all())
    assert set(roots) == set(sizes)
    proof = receipts.consistency("secp256k1-sha256", sizes[0], sizes[-1], uow=uow())
    assert (proof["first_root"], proof["second_root"]) == (roots[sizes[0]], roots[sizes[-1]])
    with pytest.raises(LogSizeInvalid):
        receipts.consistency("secp256k1-sha256", sizes[-1], sizes[-1] + 1, uow=uow())


def test_the_sm2_sm3_suite_signs_hashes_and_verifies_end_to_end(
    market: Market, sm2_suite: receipts.Issuer
) -> None:
    order = market.trade()
    _sequence(market)
    for receipt in _receipts(market, "order", order.id):
        assert (receipt.suite, receipt.signer) == ("sm2-sm3", sm2_suite.suite.identity)
        bundle = _bundle(market, receipt.id)
        assert bundle["log"]["origin"] == "market.example/receipts/sm2-sm3"
        report = verifier.verify_bundle(bundle, trusted_signer=sm2_suite.suite.identity)
        assert report.ok, report.as_dict()
    with market.rights.session_factory() as session:
        assert session.get(LogHead, "secp256k1-sha256").size == 0  # type: ignore[union-attr]
        assert session.get(LogHead, "sm2-sm3").size > 0  # type: ignore[union-attr]


# -- who reads ---------------------------------------------------------------------------


def test_the_parties_the_regulator_and_the_operator_read_a_trades_receipts(
    market: Market,
) -> None:
    order = market.place(market.listed())
    (receipt,) = _receipts(market, "order", order.id)
    for party in (market.party_of(order.buyer_org_id), market.party_of(order.seller_org_id),
                  market.rights.regulator, market.rights.operator):
        assert receipts.get_receipt(receipt.id, uow=market.uow(party))["id"] == receipt.id
    stranger = market.buyer("stranger")
    for uow in (market.uow(stranger), UnitOfWork(market.rights.session_factory,
                                                  market.rights.clock, ANONYMOUS)):
        with pytest.raises(ReceiptNotFound):
            receipts.proof_bundle(receipt.id, uow=uow)
    listed = trading.get_order(order.id, uow=market.uow(market.party_of(order.buyer_org_id)))
    assert [r["id"] for r in listed.receipts] == [receipt.id]
    assert trading.get_order(order.id, uow=market.uow(market.rights.regulator)).receipts


def test_public_records_receipts_are_public(market: Market) -> None:
    market.listed()
    anonymous = UnitOfWork(market.rights.session_factory, market.rights.clock, ANONYMOUS)
    public = [r for r in _receipts(market) if r.public]
    assert {r.kind for r in public} == {"right.certificate", "listing.approval"}
    with market.rights.session_factory() as session:
        org_ids = list(session.scalars(select(Organisation.id)))
    for receipt in public:
        shown = receipts.get_receipt(receipt.id, uow=anonymous)
        assert shown["kind"] == receipt.kind
        # public like the catalogue and certificates: no organisation named by its id
        assert not [o for o in org_ids if o in json.dumps(shown["body"])]
    private = next(r for r in _receipts(market) if not r.public)
    with pytest.raises(ReceiptNotFound):
        receipts.get_receipt(private.id, uow=anonymous)


def test_the_log_tables_refuse_rewrites(market: Market, is_postgres: bool) -> None:
    market.place(market.listed())
    _sequence(market)
    for table in ("receipt_log_nodes", "receipt_log_entries", "receipt_checkpoints"):
        with market.rights.session_factory() as session, pytest.raises(DBAPIError):
            session.execute(text(f"DELETE FROM {table}"))
