"""The chain wrapper and the anchoring pipeline on an in-process chain (web3's
EthereumTesterProvider over py-evm): fast, no node to start. The real-node cases (reorgs,
stuck transactions, the verifier over JSON-RPC) are in tests/integration/test_anchoring.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_account import Account
from web3 import EthereumTesterProvider, Web3

from market.kernel.actor import system_actor
from market.kernel.uow import UnitOfWork
from market.receipts import services as receipts
from market.receipts.chain import (
    ANCHOR_SELECTOR,
    ChainClient,
    ChainError,
    Fees,
    NonceTooLow,
    address_of,
    anchored_events,
    sign_anchor,
)
from market.receipts.domain import BatchState, Kind
from market.receipts.models import AnchorBatch
from market.receipts.services import anchoring

ROOT = bytes(range(32))


@pytest.fixture
def chain() -> Iterator[ChainClient]:
    with ChainClient(Web3(EthereumTesterProvider())) as client:
        yield client


@pytest.fixture
def key(chain: ChainClient) -> str:
    """A fresh key, funded from one of the tester's accounts."""
    fresh = "0x" + secrets.token_hex(32)
    w3 = chain.w3
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address_of(fresh),
                             "value": 10**20})
    return fresh


@pytest.fixture
def contract(chain: ChainClient, key: str) -> str:
    deployed = chain.deploy(key)
    assert deployed.status == 1
    assert deployed.contract_address is not None
    return deployed.contract_address


def _anchor(chain: ChainClient, key: str, contract: str, batch_id: int = 1,
            tree_size: int = 7) -> Any:
    return sign_anchor(key, chain_id=chain.chain_id(), contract=contract,
                       nonce=chain.pending_nonce(address_of(key)), fees=chain.suggest_fees(),
                       batch_id=batch_id, root=ROOT, tree_size=tree_size)


# -- fees --------------------------------------------------------------------------------------


def test_bumped_fees_rise_by_the_percentage_and_at_least_ten_percent():
    fees = Fees(max_fee_per_gas=1000, max_priority_fee_per_gas=100)
    assert fees.bumped(25) == Fees(1250, 125)
    assert fees.bumped(1) == Fees(1100, 110)  # nodes refuse less than +10 %
    assert Fees(3, 0).bumped(10) == Fees(4, 1)  # and at least one wei
    assert Fees(1001, 101).bumped(10) == Fees(1102, 112)  # rounded up


def test_bumped_fees_are_at_least_the_current_suggestion():
    fees = Fees(1000, 100).bumped(25, floor=Fees(5000, 200))
    assert fees == Fees(5000, 200)
    legacy = Fees(1000, None)
    assert legacy.legacy
    assert legacy.bumped(25, floor=Fees(900, None)) == Fees(1250, None)


def test_a_chain_without_base_fee_gets_a_legacy_gas_price():
    eth = SimpleNamespace(get_block=lambda _which: {"number": 5}, gas_price=7_000)
    client = ChainClient(SimpleNamespace(eth=eth))  # type: ignore[arg-type]
    assert client.suggest_fees() == Fees(7_000, None)


def test_an_eip1559_chain_gets_twice_the_base_fee_plus_the_tip(chain):
    base = chain.w3.eth.get_block("latest")["baseFeePerGas"]
    fees = chain.suggest_fees()
    assert fees.max_priority_fee_per_gas is not None
    assert fees.max_fee_per_gas == 2 * base + fees.max_priority_fee_per_gas


# -- the anchor transaction ----------------------------------------------------------------


def test_the_anchor_is_signed_locally_and_sent_as_is(chain, key, contract):
    signed = _anchor(chain, key, contract)
    assert chain.receipt(signed.tx_hash) is None  # nothing sent yet
    decoded = Account.recover_transaction(signed.raw_tx)
    assert decoded == address_of(key)
    assert chain.send_raw(signed.raw_tx) == signed.tx_hash
    found = chain.receipt(signed.tx_hash)
    assert found is not None
    assert found.status == 1
    assert found.block_hash == chain.block_hash(found.block_number)
    assert found.gas_used < 50_000
    [event] = anchored_events(found, contract)
    assert (event.batch_id, event.root, event.tree_size) == (1, ROOT, 7)
    assert chain.anchored(signed.tx_hash) == [event]


def test_the_call_data_is_the_abi_encoding_of_anchor(chain, key, contract):
    signed = _anchor(chain, key, contract, batch_id=3, tree_size=2**40)
    tx = chain.w3.eth.get_transaction(chain.send_raw(signed.raw_tx))  # type: ignore[arg-type]
    data = bytes(tx["input"])
    assert data[:4] == ANCHOR_SELECTOR
    assert decode(["uint64", "bytes32", "uint64"], data[4:]) == (3, ROOT, 2**40)


def test_a_used_nonce_is_told_apart(chain, key, contract):
    signed = _anchor(chain, key, contract)
    chain.send_raw(signed.raw_tx)
    with pytest.raises(NonceTooLow):
        chain.send_raw(signed.raw_tx)


class _Provider:
    """Answers eth_sendRawTransaction with a fixed JSON-RPC error."""

    def __init__(self, message: str) -> None:
        self.message = message

    def make_request(self, method: str, params: list[Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": self.message}}


@pytest.mark.parametrize(("message", "outcome"), [
    ("already known", "ok"),
    ("transaction already imported", "ok"),
    ("nonce too low", "nonce"),
    ("nonce too low: next nonce 5, tx nonce 4", "nonce"),
    ("insufficient funds for gas * price + value", "error"),
    ("replacement transaction underpriced", "error"),
])
def test_node_refusals_are_classified(chain, key, contract, message, outcome):
    signed = _anchor(chain, key, contract)
    client = ChainClient(SimpleNamespace(provider=_Provider(message)))  # type: ignore[arg-type]
    if outcome == "ok":
        assert client.send_raw(signed.raw_tx) == signed.tx_hash
    elif outcome == "nonce":
        with pytest.raises(NonceTooLow):
            client.send_raw(signed.raw_tx)
    else:
        with pytest.raises(ChainError) as info:
            client.send_raw(signed.raw_tx)
        assert not isinstance(info.value, NonceTooLow)
        assert message in str(info.value)


def test_unknown_transactions_and_blocks_are_none(chain):
    assert chain.receipt("0x" + "00" * 32) is None
    assert chain.block_hash(chain.block_number() + 100) is None


def test_an_unreachable_node_is_a_chain_error():
    with ChainClient.connect("http://127.0.0.1:9", timeout=0.5) as client, \
            pytest.raises(ChainError):
        client.chain_id()


# -- the pipeline ----------------------------------------------------------------------------


@pytest.mark.integration
def test_receipts_are_anchored_and_finalized_in_process(
        session_factory, clock, settings, chain, key, contract):
    anchor_settings = settings.with_changes(
        chain_rpc_url="in-process", chain_id=chain.chain_id(), anchor_contract=contract,
        anchor_key=key, anchor_batch_size=2, anchor_confirmations=3)
    with UnitOfWork(session_factory, clock, system_actor("test")) as uow:
        for n in range(2):
            receipts.issue(uow, kind=Kind.SETTLEMENT, subject_type="settlement",
                           subject_id=f"stl_{n}", record={"n": n})
        uow.commit()
    appended = receipts.sequence(UnitOfWork(session_factory, clock, system_actor("test")))

    done = anchoring.tick(session_factory, clock, anchor_settings, client=chain)
    assert done["included"] == [1]
    chain.request("evm_mine", [2])
    assert anchoring.tick(session_factory, clock, anchor_settings, client=chain)[
        "finalized"] == [1]

    with session_factory() as session:
        batch = session.get(AnchorBatch, 1)
        assert batch is not None
        assert batch.status == BatchState.FINALIZED.value
        assert (batch.tree_size, batch.root) == (appended.tree_size, appended.root)
        assert batch.checkpoint_id == appended.checkpoint_id
    [event] = chain.anchored(batch.tx_hash or "", contract)
    assert (event.batch_id, event.root.hex(), event.tree_size) == (1, appended.root, 2)
    [status] = receipts.list_batches(uow=UnitOfWork(session_factory, clock, system_actor("test")))
    assert status["status"] == "finalized"
    assert status["gas_used"] == batch.gas_used


@pytest.mark.integration
def test_a_transaction_persisted_but_never_sent_is_sent_by_the_next_tick(
        session_factory, clock, settings, chain, key, contract):
    anchor_settings = settings.with_changes(
        chain_rpc_url="in-process", chain_id=chain.chain_id(), anchor_contract=contract,
        anchor_key=key, anchor_batch_size=1, anchor_confirmations=1)
    with UnitOfWork(session_factory, clock, system_actor("test")) as uow:
        receipts.issue(uow, kind=Kind.REFUND, subject_type="refund", subject_id="rfd_1",
                       record={})
        uow.commit()
    receipts.sequence(UnitOfWork(session_factory, clock, system_actor("test")))
    steps = anchoring.Anchorer(session_factory, clock, anchor_settings, chain)
    steps.open_batch()
    sealed = steps.seal_batch()
    assert sealed is not None
    steps.submit(sealed, send=False)
    with session_factory() as session:
        persisted = session.get(AnchorBatch, 1)
        assert persisted is not None
        assert persisted.sent_at is None
    assert chain.receipt(persisted.tx_hash or "") is None

    done = anchoring.tick(session_factory, clock, anchor_settings, client=chain)
    assert done["sent"] == [1]
    assert done["finalized"] == [1]
    assert chain.receipt(persisted.tx_hash or "") is not None
