"""Anchoring the receipts log on a real chain: anvil (npm ``@foundry-rs/anvil``) on loopback.

Each test deploys its own ReceiptAnchor from a fresh funded key, so the contract's head and
the sender's nonces start from zero whatever ran before; the database is the rolled-back test
transaction, so the log and the batches do too. Blocks are mined on demand (``anvil_mine``),
a reorg is an ``evm_snapshot`` / ``evm_revert`` around the inclusion, and a stuck transaction
is one whose fee the next blocks' base fee outbids while automining is off.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, sessionmaker

from market.cli import main
from market.kernel.actor import system_actor
from market.kernel.audit import AuditEntry
from market.kernel.clock import FixedClock
from market.kernel.config import Settings
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.receipts import verifier
from market.receipts.chain import ChainClient, TxReceipt, address_of, anchor_calldata
from market.receipts.contract import ABI
from market.receipts.domain import BatchState, Kind
from market.receipts.models import AnchorBatch, Checkpoint, Receipt, ReceiptQueue
from market.receipts.services import anchoring

CONFIRMATIONS = 3
STUCK_SECONDS = 300
BUMP_PERCENT = 25
ANVIL_CHAIN_ID = 31337
SENT = (BatchState.SUBMITTED.value, BatchState.RESUBMITTED.value)


@dataclass(frozen=True)
class Deployment:
    key: str
    sender: str
    contract: str


@pytest.fixture
def chain(anvil: str) -> Iterator[ChainClient]:
    with ChainClient.connect(anvil) as client:
        yield client


@pytest.fixture
def deployment(chain: ChainClient) -> Deployment:
    key = "0x" + secrets.token_hex(32)
    sender = address_of(key)
    chain.request("anvil_setBalance", [sender, hex(10**21)])
    deployed = chain.deploy(key)
    assert deployed.contract_address is not None
    return Deployment(key, sender, deployed.contract_address)


@pytest.fixture
def anchor_settings(settings: Settings, anvil: str, deployment: Deployment) -> Settings:
    return settings.with_changes(
        chain_rpc_url=anvil, chain_id=ANVIL_CHAIN_ID, anchor_contract=deployment.contract,
        anchor_key=deployment.key, anchor_batch_size=1, anchor_batch_seconds=600,
        anchor_confirmations=CONFIRMATIONS, anchor_stuck_seconds=STUCK_SECONDS,
        anchor_fee_bump_percent=BUMP_PERCENT)


@pytest.fixture
def manual_mining(chain: ChainClient, deployment: Deployment) -> Iterator[None]:
    """Blocks only when a test mines one (after the contract is deployed)."""
    chain.request("evm_setAutomine", [False])
    try:
        yield
    finally:
        chain.request("evm_setAutomine", [True])


@dataclass
class World:
    """The log, the chain and a way to run the anchoring worker's tick."""

    sessions: sessionmaker[Session]
    clock: FixedClock
    settings: Settings
    chain: ChainClient
    deployment: Deployment

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock, system_actor("test"))

    def issue(self, n: int) -> list[str]:
        """Issue ``n`` receipts of made-up orders and sequence them into the log."""
        with self.uow() as uow:
            ids = [receipts.issue(uow, kind=Kind.ORDER_CONTRACT, subject_type="order",
                                  subject_id=f"ord_{secrets.token_hex(6)}",
                                  record={"n": i, "amount": "12.00"}).id
                   for i in range(n)]
            uow.commit()
        receipts.sequence(self.uow())
        return ids

    def tick(self) -> dict[str, Any]:
        """One anchoring tick, as the worker runs it. With automining on, anvil mines a
        transaction just after answering its sending, so a transaction the tick sent may
        not have a receipt yet when the same tick looks: the tick is then run again (as the
        worker's next one would) until the batch is no longer waiting, and what each run
        moved is merged."""
        merged: dict[str, Any] = {}
        for _ in range(40):
            done = anchoring.tick(self.sessions, self.clock, self.settings, client=self.chain)
            assert done["errors"] == [], done
            for step, ids in done.items():
                merged[step] = [*merged.get(step, []), *ids]
            waiting = self.anchorer().in_flight()
            if (waiting is None or waiting.status not in SENT
                    or not self.chain.request("anvil_getAutomine")):
                break
            time.sleep(0.05)
        return {step: ids for step, ids in merged.items() if ids or step == "errors"}

    def anchorer(self) -> anchoring.Anchorer:
        return anchoring.Anchorer(self.sessions, self.clock, self.settings, self.chain)

    def batch(self, batch_id: int = 1) -> AnchorBatch:
        with self.sessions() as session:
            found = session.get(AnchorBatch, batch_id)
            assert found is not None
            return found

    def path(self, batch_id: int = 1) -> list[str]:
        """The batch's audited moves, in order."""
        with self.sessions() as session:
            return list(session.scalars(
                select(AuditEntry.action).where(AuditEntry.object_type == "receipt_batch",
                                                AuditEntry.object_id == str(batch_id))
                .order_by(AuditEntry.seq)))

    def mine(self, blocks: int = 1) -> None:
        self.chain.request("anvil_mine", [hex(blocks)])

    def checkpoint(self, checkpoint_id: int | None) -> Checkpoint:
        with self.sessions() as session:
            found = session.get(Checkpoint, checkpoint_id)
            assert found is not None
            return found

    def head(self) -> tuple[int, int, bytes]:
        contract = self.chain.w3.eth.contract(
            address=self.chain.w3.to_checksum_address(self.deployment.contract), abi=ABI)
        batch_id, tree_size, root = contract.functions.head().call()
        return int(batch_id), int(tree_size), bytes(root)

    def sent_count(self) -> int:
        """Transactions of the sender mined so far (its deployment included)."""
        return int(self.chain.w3.eth.get_transaction_count(
            self.chain.w3.to_checksum_address(self.deployment.sender), "latest"))


@pytest.fixture
def world(session_factory: sessionmaker[Session], clock: FixedClock,
          anchor_settings: Settings, chain: ChainClient, deployment: Deployment) -> World:
    return World(session_factory, clock, anchor_settings, chain, deployment)


def states(path: list[str]) -> list[str]:
    return [action.removeprefix("receipt_batch.") for action in path]


def anchor_and_finalize(world: World, receipts_count: int) -> list[str]:
    ids = world.issue(receipts_count)
    world.tick()
    world.mine(CONFIRMATIONS - 1)
    world.tick()
    assert world.batch().status == BatchState.FINALIZED.value
    return ids


# -- the happy path ------------------------------------------------------------------------


def test_a_batch_goes_from_open_to_finalized_and_its_event_is_the_checkpoint(world):
    world.issue(3)
    done = world.tick()
    assert done["open"] == [1]
    assert done["sealed"] == [1]
    assert done["submitted"] == [1]
    assert done["included"] == [1]
    batch = world.batch()
    assert batch.status == BatchState.INCLUDED.value
    assert (batch.from_size, batch.tree_size, batch.nonce) == (0, 3, 1)
    assert batch.block_number is not None
    assert batch.sent_at is not None

    world.mine(CONFIRMATIONS - 2)  # one confirmation short
    assert world.tick().get("finalized") is None
    world.mine(1)
    assert world.tick()["finalized"] == [1]
    assert states(world.path()) == ["open", "sealed", "submitted", "included", "finalized"]

    batch = world.batch()
    checkpoint = world.checkpoint(batch.checkpoint_id)
    assert (checkpoint.tree_size, checkpoint.root) == (3, batch.root)
    assert batch.tx_hash is not None
    events = world.chain.anchored(batch.tx_hash, world.deployment.contract)
    assert [(e.batch_id, e.root.hex(), e.tree_size) for e in events] == [
        (1, checkpoint.root, checkpoint.tree_size)]
    assert world.head() == (1, 3, bytes.fromhex(checkpoint.root))


def test_the_next_batch_starts_where_the_last_one_ended(world):
    anchor_and_finalize(world, 2)
    assert world.tick().get("open") is None  # the log has not grown
    world.issue(3)
    done = world.tick()
    assert done["open"] == [2]
    assert done["included"] == [2]
    second = world.batch(2)
    assert (second.from_size, second.tree_size) == (2, 5)
    assert world.head() == (2, 5, bytes.fromhex(second.root or ""))


def test_a_batch_waits_until_it_is_big_or_old_enough_and_only_one_is_in_flight(world):
    world.settings = world.settings.with_changes(anchor_batch_size=5, anchor_batch_seconds=60)
    world.issue(2)
    assert world.tick()["open"] == [1]
    assert world.batch().status == BatchState.OPEN.value
    world.issue(3)  # grown by 5: due
    assert world.tick()["included"] == [1]
    world.issue(1)
    assert world.tick()["open"] == [2]
    world.clock.advance(timedelta(seconds=60))  # old enough, but batch 1 is not final
    assert world.tick().get("sealed") is None
    world.mine(CONFIRMATIONS - 1)
    done = world.tick()
    assert done["finalized"] == [1]
    assert done["sealed"] == [2]
    assert done["included"] == [2]
    assert [r["id"] for r in receipts.list_batches(uow=world.uow())] == [2, 1]


# -- a reorg ---------------------------------------------------------------------------------


def test_a_reorged_batch_is_sent_again_and_finalized_in_its_new_block(world):
    world.issue(2)
    snapshot = world.chain.request("evm_snapshot")
    world.tick()
    included = world.batch()
    assert included.status == BatchState.INCLUDED.value
    world.mine(1)
    assert world.chain.request("evm_revert", [snapshot]) is True
    world.mine(2)  # the chain goes on without the anchor
    assert world.chain.receipt(included.tx_hash or "") is None

    done = world.tick()
    assert done["reorged"] == [1]
    assert done["resubmitted"] == [1]
    assert done["included"] == [1]
    again = world.batch()
    assert again.tx_hash == included.tx_hash  # the same signed bytes, sent again
    assert again.block_hash != included.block_hash
    assert len(again.attempts) == 1
    world.mine(CONFIRMATIONS - 1)
    assert world.tick()["finalized"] == [1]
    assert states(world.path()) == ["open", "sealed", "submitted", "included", "reorged",
                                    "resubmitted", "included", "finalized"]
    assert world.head()[:2] == (1, 2)


def test_a_reorged_batch_whose_nonce_was_taken_is_signed_anew(world):
    world.issue(1)
    snapshot = world.chain.request("evm_snapshot")
    world.tick()
    first = world.batch()
    world.chain.request("evm_revert", [snapshot])
    # Meanwhile the sender's nonce goes to another transaction.
    other = world.chain.w3.eth.account.sign_transaction({
        "chainId": ANVIL_CHAIN_ID, "nonce": first.nonce, "to": world.deployment.sender,
        "value": 1, "gas": 21_000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
    }, world.deployment.key)
    world.chain.send_raw("0x" + bytes(other.raw_transaction).hex())

    done = world.tick()
    assert done["reorged"] == [1]
    assert done["replaced"] == [1]
    assert done["included"] == [1]
    again = world.batch()
    assert first.nonce is not None
    assert again.nonce == first.nonce + 1
    assert again.tx_hash != first.tx_hash
    assert len(again.attempts) == 2
    assert world.head()[:2] == (1, 1)


# -- a stuck transaction ---------------------------------------------------------------------


@pytest.mark.usefixtures("manual_mining")
def test_a_stuck_transaction_is_replaced_with_higher_fees_under_the_same_nonce(world):
    world.issue(1)
    done = world.tick()
    assert done["submitted"] == [1]
    assert done.get("included") is None
    first = world.batch()
    assert first.max_fee_per_gas is not None
    assert first.max_priority_fee_per_gas is not None
    # The next blocks' base fee outbids the transaction: it stays pending.
    world.chain.request("anvil_setNextBlockBaseFeePerGas", [hex(first.max_fee_per_gas * 4)])
    world.mine(1)
    assert world.chain.receipt(first.tx_hash or "") is None

    world.clock.advance(timedelta(seconds=STUCK_SECONDS - 1))
    assert world.tick().get("replaced") is None  # not stuck long enough yet
    world.clock.advance(timedelta(seconds=1))
    assert world.tick()["replaced"] == [1]
    replaced = world.batch()
    assert replaced.status == BatchState.SUBMITTED.value
    assert replaced.nonce == first.nonce
    assert replaced.tx_hash != first.tx_hash
    assert replaced.max_fee_per_gas is not None
    assert replaced.max_priority_fee_per_gas is not None
    assert replaced.max_fee_per_gas >= first.max_fee_per_gas * (100 + BUMP_PERCENT) // 100
    assert replaced.max_fee_per_gas >= first.max_fee_per_gas * 4  # the current suggestion
    assert replaced.max_priority_fee_per_gas >= (
        first.max_priority_fee_per_gas * (100 + BUMP_PERCENT) // 100)
    assert [a["nonce"] for a in replaced.attempts] == [first.nonce, first.nonce]

    world.mine(1)
    assert world.tick()["included"] == [1]
    included = world.batch()
    assert included.tx_hash == replaced.tx_hash
    assert world.chain.receipt(first.tx_hash or "") is None
    assert world.sent_count() == (first.nonce or 0) + 1
    assert states(world.path()) == ["open", "sealed", "submitted", "replaced", "included"]


# -- a crash between persisting and sending ----------------------------------------------------


@pytest.mark.parametrize("sent_before_crash", [False, True], ids=["unsent", "sent"])
def test_a_crash_after_persisting_the_transaction_sends_it_once(world, sent_before_crash):
    world.issue(2)
    steps = world.anchorer()
    steps.open_batch()
    steps.seal_batch()
    sealed = steps.in_flight()
    assert sealed is not None
    nonce_before = world.sent_count()
    steps.submit(sealed, send=False)  # the process dies here
    persisted = world.batch()
    assert persisted.status == BatchState.SUBMITTED.value
    assert persisted.sent_at is None
    assert persisted.raw_tx is not None
    if sent_before_crash:  # …or here, after the node took it but before sent_at was kept
        world.chain.send_raw(persisted.raw_tx)
    else:
        assert world.sent_count() == nonce_before

    assert world.tick()["included"] == [1]
    world.tick()
    after = world.batch()
    assert after.tx_hash == persisted.tx_hash
    assert len(after.attempts) == 1
    assert world.sent_count() == nonce_before + 1  # one transaction for that nonce
    assert persisted.tx_hash is not None
    mined = world.chain.w3.eth.get_transaction(cast(Any, persisted.tx_hash))
    assert mined["nonce"] == persisted.nonce


# -- the verifier ------------------------------------------------------------------------------


def _bundle(world: World, receipt_id: str) -> dict[str, Any]:
    return receipts.proof_bundle(receipt_id, uow=world.uow())


def test_the_verifier_accepts_an_anchored_receipt_and_rejects_an_altered_anchor(world, anvil):
    ids = anchor_and_finalize(world, 3)
    signer = receipts.issuer().suite.identity
    bundle = _bundle(world, ids[1])
    anchor = bundle["anchor"]
    batch = world.batch()
    assert anchor["tx_hash"] == batch.tx_hash
    assert (anchor["batch_id"], anchor["tree_size"]) == (1, 3)
    assert bundle["log"]["tree_size"] == 3

    report = verifier.verify_bundle(bundle, trusted_signer=signer, rpc_url=anvil,
                                    min_confirmations=CONFIRMATIONS)
    assert report.ok, report.as_dict()
    assert report.part("anchor").ok

    other_tx = copy.deepcopy(bundle)
    other_tx["anchor"]["tx_hash"] = "0x" + "ab" * 32
    assert not verifier.verify_bundle(other_tx, trusted_signer=signer, rpc_url=anvil).ok
    other_root = copy.deepcopy(bundle)
    other_root["anchor"]["root"] = "cd" * 32
    failed = verifier.verify_bundle(other_root, trusted_signer=signer, rpc_url=anvil)
    assert not failed.ok
    assert failed.failed == "anchor"
    too_few = verifier.verify_bundle(bundle, trusted_signer=signer, rpc_url=anvil,
                                     min_confirmations=CONFIRMATIONS + 5)
    assert not too_few.ok


# -- gas ---------------------------------------------------------------------------------------


def _fill_log(world: World, n: int) -> None:
    """Put ``n`` receipts in the log quickly: rows written directly (not signed one by one,
    which the anchoring does not look at), then sequenced for real."""
    suite = receipts.issuer().suite
    now = world.clock.now()
    rows = []
    for _ in range(n):
        rid = f"rcp_{secrets.token_hex(12)}"
        rows.append({"id": rid, "suite": suite.name, "kind": Kind.ORDER_CONTRACT.value,
                     "subject_type": "order", "subject_id": rid, "body": {},
                     "digest": secrets.token_hex(32), "signer": suite.identity,
                     "signature": "0x", "issued_at": now, "parties": [], "public": False})
    with world.sessions() as session, session.begin():
        session.execute(insert(cast(Table, Receipt.__table__)), rows)
        session.execute(insert(cast(Table, ReceiptQueue.__table__)), [
            {"receipt_id": r["id"], "suite": suite.name, "digest": r["digest"],
             "queued_at": now} for r in rows])
    receipts.sequence(world.uow())


def _execution_gas(found: TxReceipt, batch: AnchorBatch) -> int:
    """Gas used past the transaction's intrinsic cost (21,000 and the call data's bytes)."""
    assert batch.root is not None
    assert batch.tree_size is not None
    data = anchor_calldata(batch.id, bytes.fromhex(batch.root), batch.tree_size)
    return found.gas_used - 21_000 - sum(4 if b == 0 else 16 for b in data)


def test_an_anchor_costs_the_same_gas_whatever_the_batch_size(world):
    world.settings = world.settings.with_changes(anchor_confirmations=1)
    measured = {}
    for batch_id, size in enumerate((1, 100, 10_000), start=1):
        _fill_log(world, size)
        world.tick()
        batch = world.batch(batch_id)
        assert batch.tree_size is not None
        assert batch.tree_size - batch.from_size == size
        found = world.chain.receipt(batch.tx_hash or "")
        assert found is not None
        measured[size] = (found.gas_used, _execution_gas(found, batch))
    assert all(total < 50_000 for total, _ in measured.values())
    # The first anchor writes the same slots as every later one (the contract keeps them
    # non-zero from its constructor), so the execution costs exactly the same.
    assert len({execution for _, execution in measured.values()}) == 1


# -- the command line --------------------------------------------------------------------------


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def cli_env(tmp_path: Path, settings: Settings) -> Iterator[dict[str, str]]:
    env = {"MARKET_INSTANCE_PATH": str(tmp_path / "instance")}
    assert run(env, "db", "upgrade").exit_code == 0
    yield env
    receipts.configure(settings)  # the commands configured the instance's own key


def test_the_cli_deploys_anchors_and_verifies(world, anvil, cli_env, tmp_path, chain):
    key = "0x" + secrets.token_hex(32)
    chain.request("anvil_setBalance", [address_of(key), hex(10**21)])
    deployed = run(cli_env, "receipts", "deploy", "--rpc", anvil, "--key", key, "--json")
    assert deployed.exit_code == 0, deployed.output
    contract = json.loads(deployed.output)["contract"]
    assert chain.w3.eth.get_code(chain.w3.to_checksum_address(contract))

    env = {**cli_env, "MARKET_CHAIN_RPC_URL": anvil, "MARKET_CHAIN_ID": str(ANVIL_CHAIN_ID),
           "MARKET_ANCHOR_CONTRACT": contract, "MARKET_ANCHOR_KEY": key}
    assert run(env, "receipts", "sequence", "--json").exit_code == 0
    anchored = run(env, "receipts", "anchor")
    assert anchored.exit_code == 0, anchored.output
    assert "nothing to do" in anchored.output
    status = run(env, "receipts", "anchor-status", "--json")
    assert json.loads(status.output) == {"batches": []}

    ids = anchor_and_finalize(world, 1)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(_bundle(world, ids[0]), default=str))
    ok = run(cli_env, "receipts", "verify", str(bundle), "--rpc", anvil)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    altered = json.loads(bundle.read_text())
    altered["anchor"]["tx_hash"] = "0x" + "ab" * 32
    bundle.write_text(json.dumps(altered))
    bad = run(cli_env, "receipts", "verify", str(bundle), "--rpc", anvil)
    assert bad.exit_code == 1
    assert json.loads(bad.output)["ok"] is False


def test_tick_refuses_to_run_when_anchoring_is_off(session_factory, clock, settings):
    from market.kernel.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        anchoring.tick(session_factory, clock, settings)


def test_a_node_on_another_chain_is_reported_and_nothing_moves(world):
    world.settings = world.settings.with_changes(chain_id=1)
    world.issue(1)
    done = anchoring.tick(world.sessions, world.clock, world.settings, client=world.chain)
    assert "serves chain 31337" in done["errors"][0]
    assert receipts.list_batches(uow=world.uow()) == []

