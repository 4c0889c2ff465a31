"""ReceiptAnchor, as committed in the package artifact, on an in-process chain (eth-tester/py-evm).

Each test deploys a fresh contract with three funded accounts: ``admin`` (DEFAULT_ADMIN_ROLE),
``anchorer`` (ANCHOR_ROLE) and ``other`` (no role). Reverts are checked by their custom error:
the eth-tester provider reports a revert as ``TransactionFailed`` and keeps the raw revert data
in the exception's chain, which is decoded here against the artifact's ABI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_tester.exceptions import TransactionFailed
from eth_utils.crypto import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.types import TxReceipt

from market.receipts.contract import (
    ABI,
    ANCHOR_ROLE,
    ANCHORED_TOPIC,
    BYTECODE,
    DEFAULT_ADMIN_ROLE,
    DEPLOYED_BYTECODE,
)

GAS_CEILING = 50_000  # per anchor() transaction, the 21,000 base included
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class Chain:
    w3: Web3
    anchor: Contract
    deployment: TxReceipt
    admin: str
    anchorer: str
    other: str


def _errors() -> dict[bytes, tuple[str, list[str]]]:
    """Custom errors of the ABI by selector: name and argument types."""
    found = {}
    for item in ABI:
        if item["type"] == "error":
            types = [arg["type"] for arg in item["inputs"]]
            found[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return found


ERRORS = _errors()


def revert_data(exc: BaseException) -> bytes:
    """The raw revert data the EVM returned, found in ``exc``'s cause/context chain."""
    seen: BaseException | None = exc
    while seen is not None:
        for arg in seen.args:
            if isinstance(arg, bytes):
                return arg
        seen = seen.__cause__ or seen.__context__
    raise AssertionError(f"no revert data in {exc!r}")


def reverts_with(send: Callable[[], Any]) -> tuple[str, tuple[Any, ...]]:
    """Runs ``send`` (which must revert) and returns the custom error's name and arguments."""
    with pytest.raises(TransactionFailed) as info:
        send()
    data = revert_data(info.value)
    name, types = ERRORS[data[:4]]
    return name, tuple(decode(types, data[4:]))


def intrinsic_gas(calldata: bytes) -> int:
    """Base cost of a call transaction carrying ``calldata`` (EIP-2028 byte prices)."""
    return 21_000 + sum(4 if byte == 0 else 16 for byte in calldata)


def root(n: int) -> bytes:
    return keccak(n.to_bytes(8, "big"))


@pytest.fixture
def chain() -> Chain:
    w3 = Web3(EthereumTesterProvider())
    admin, anchorer, other = list(w3.eth.accounts)[:3]
    factory = w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(admin, anchorer).transact({"from": admin}))
    assert receipt["status"] == 1
    address = receipt["contractAddress"]
    assert address is not None
    return Chain(w3, w3.eth.contract(address=address, abi=ABI), receipt, admin, anchorer, other)


def anchor(chain: Chain, batch_id: int, tree_root: bytes, tree_size: int,
           sender: str | None = None) -> Any:
    """Sends anchor() and returns its mined receipt."""
    tx = chain.anchor.functions.anchor(batch_id, tree_root, tree_size).transact(
        {"from": sender or chain.anchorer})
    return chain.w3.eth.wait_for_transaction_receipt(tx)


def test_deploys_the_artifact_with_its_roles_and_an_empty_head(chain: Chain) -> None:
    functions = chain.anchor.functions
    assert bytes(chain.w3.eth.get_code(chain.anchor.address)) == bytes.fromhex(
        DEPLOYED_BYTECODE[2:])
    assert functions.ANCHOR_ROLE().call() == ANCHOR_ROLE
    assert functions.DEFAULT_ADMIN_ROLE().call() == DEFAULT_ADMIN_ROLE
    assert functions.getRoleAdmin(ANCHOR_ROLE).call() == DEFAULT_ADMIN_ROLE
    assert functions.hasRole(DEFAULT_ADMIN_ROLE, chain.admin).call()
    assert functions.hasRole(ANCHOR_ROLE, chain.anchorer).call()
    assert not functions.hasRole(ANCHOR_ROLE, chain.admin).call()
    assert not functions.hasRole(DEFAULT_ADMIN_ROLE, chain.anchorer).call()
    assert functions.head().call() == [0, 0, bytes(32)]


def test_the_constructor_announces_both_grants(chain: Chain) -> None:
    grants = chain.anchor.events.RoleGranted().process_receipt(chain.deployment)
    assert [(g["args"]["role"], g["args"]["account"], g["args"]["sender"]) for g in grants] == [
        (DEFAULT_ADMIN_ROLE, chain.admin, chain.admin),
        (ANCHOR_ROLE, chain.anchorer, chain.admin),
    ]


@pytest.mark.parametrize("which", ["admin", "anchorer"])
def test_the_constructor_refuses_a_zero_address(chain: Chain, which: str) -> None:
    factory = chain.w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    holders = {"admin": chain.admin, "anchorer": chain.anchorer, which: ZERO_ADDRESS}
    name, args = reverts_with(lambda: factory.constructor(
        holders["admin"], holders["anchorer"]).transact({"from": chain.admin}))
    assert (name, args) == ("ZeroAddress", ())


def test_anchor_emits_anchored_and_moves_the_head(chain: Chain) -> None:
    receipt = anchor(chain, 7, root(1), 1234)
    assert receipt["status"] == 1
    (log,) = receipt["logs"]
    assert log["address"] == chain.anchor.address
    assert [bytes(t) for t in log["topics"]] == [
        ANCHORED_TOPIC, (7).to_bytes(32, "big"), root(1)]
    assert bytes(log["data"]) == (1234).to_bytes(32, "big")
    (event,) = chain.anchor.events.Anchored().process_receipt(receipt)
    assert dict(event["args"]) == {"batchId": 7, "root": root(1), "treeSize": 1234}
    assert chain.anchor.functions.head().call() == [7, 1234, root(1)]

    anchor(chain, 9, root(2), 1235)  # batch ids may skip
    assert chain.anchor.functions.head().call() == [9, 1235, root(2)]


def test_anchored_events_keep_the_history(chain: Chain) -> None:
    for n in range(1, 4):
        anchor(chain, n, root(n), 10 * n)
    logs = chain.anchor.events.Anchored().get_logs(from_block=0)
    assert [(e["args"]["batchId"], e["args"]["root"], e["args"]["treeSize"]) for e in logs] == [
        (n, root(n), 10 * n) for n in range(1, 4)]


@pytest.mark.parametrize("sender", ["admin", "other"])
def test_only_the_anchor_role_may_anchor(chain: Chain, sender: str) -> None:
    account = getattr(chain, sender)
    name, args = reverts_with(lambda: anchor(chain, 1, root(1), 1, sender=account))
    assert (name, args) == ("AccessControlUnauthorizedAccount", (account.lower(), ANCHOR_ROLE))
    assert chain.anchor.functions.head().call() == [0, 0, bytes(32)]


def test_a_refused_anchor_mined_anyway_changes_nothing(chain: Chain) -> None:
    anchor(chain, 1, root(1), 1)
    tx = chain.anchor.functions.anchor(2, root(2), 2).transact(
        {"from": chain.other, "gas": 100_000})  # explicit gas: sent without estimation
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 0
    assert receipt["logs"] == []
    assert chain.anchor.functions.head().call() == [1, 1, root(1)]


@pytest.mark.parametrize("batch_id", [5, 4, 0])
def test_the_batch_id_must_increase(chain: Chain, batch_id: int) -> None:
    anchor(chain, 5, root(1), 100)
    name, args = reverts_with(lambda: anchor(chain, batch_id, root(2), 200))
    assert (name, args) == ("BatchIdNotIncreasing", (5, batch_id))
    assert chain.anchor.functions.head().call() == [5, 100, root(1)]


@pytest.mark.parametrize("tree_size", [100, 99, 0])
def test_the_tree_size_must_increase(chain: Chain, tree_size: int) -> None:
    anchor(chain, 5, root(1), 100)
    name, args = reverts_with(lambda: anchor(chain, 6, root(2), tree_size))
    assert (name, args) == ("TreeSizeNotIncreasing", (100, tree_size))
    assert chain.anchor.functions.head().call() == [5, 100, root(1)]


def test_the_first_anchor_needs_a_non_empty_tree(chain: Chain) -> None:
    name, args = reverts_with(lambda: anchor(chain, 1, root(1), 0))
    assert (name, args) == ("TreeSizeNotIncreasing", (0, 0))


def test_the_admin_grants_and_revokes_the_anchor_role(chain: Chain) -> None:
    functions = chain.anchor.functions
    granted = chain.w3.eth.wait_for_transaction_receipt(
        functions.grantRole(ANCHOR_ROLE, chain.other).transact({"from": chain.admin}))
    (event,) = chain.anchor.events.RoleGranted().process_receipt(granted)
    assert dict(event["args"]) == {
        "role": ANCHOR_ROLE, "account": chain.other, "sender": chain.admin}
    assert functions.hasRole(ANCHOR_ROLE, chain.other).call()
    assert anchor(chain, 1, root(1), 1, sender=chain.other)["status"] == 1

    again = chain.w3.eth.wait_for_transaction_receipt(
        functions.grantRole(ANCHOR_ROLE, chain.other).transact({"from": chain.admin}))
    assert again["logs"] == []  # already held: nothing to announce

    revoked = chain.w3.eth.wait_for_transaction_receipt(
        functions.revokeRole(ANCHOR_ROLE, chain.other).transact({"from": chain.admin}))
    (event,) = chain.anchor.events.RoleRevoked().process_receipt(revoked)
    assert dict(event["args"]) == {
        "role": ANCHOR_ROLE, "account": chain.other, "sender": chain.admin}
    assert not functions.hasRole(ANCHOR_ROLE, chain.other).call()
    name, _ = reverts_with(lambda: anchor(chain, 2, root(2), 2, sender=chain.other))
    assert name == "AccessControlUnauthorizedAccount"
    assert anchor(chain, 2, root(2), 2)["status"] == 1  # the original anchorer keeps its role


@pytest.mark.parametrize("method", ["grantRole", "revokeRole"])
@pytest.mark.parametrize("sender", ["anchorer", "other"])
def test_only_the_admin_manages_roles(chain: Chain, method: str, sender: str) -> None:
    account = getattr(chain, sender)
    call = getattr(chain.anchor.functions, method)(ANCHOR_ROLE, chain.anchorer)
    name, args = reverts_with(lambda: call.transact({"from": account}))
    assert (name, args) == (
        "AccessControlUnauthorizedAccount", (account.lower(), DEFAULT_ADMIN_ROLE))
    assert chain.anchor.functions.hasRole(ANCHOR_ROLE, chain.anchorer).call()


def test_the_admin_role_can_be_handed_over(chain: Chain) -> None:
    functions = chain.anchor.functions
    functions.grantRole(DEFAULT_ADMIN_ROLE, chain.other).transact({"from": chain.admin})
    functions.revokeRole(DEFAULT_ADMIN_ROLE, chain.admin).transact({"from": chain.other})
    assert functions.hasRole(DEFAULT_ADMIN_ROLE, chain.other).call()
    assert not functions.hasRole(DEFAULT_ADMIN_ROLE, chain.admin).call()
    name, _ = reverts_with(lambda: functions.grantRole(ANCHOR_ROLE, chain.admin).transact(
        {"from": chain.admin}))
    assert name == "AccessControlUnauthorizedAccount"


def test_a_holder_renounces_its_own_role(chain: Chain) -> None:
    functions = chain.anchor.functions
    renounced = chain.w3.eth.wait_for_transaction_receipt(
        functions.renounceRole(ANCHOR_ROLE, chain.anchorer).transact({"from": chain.anchorer}))
    (event,) = chain.anchor.events.RoleRevoked().process_receipt(renounced)
    assert dict(event["args"]) == {
        "role": ANCHOR_ROLE, "account": chain.anchorer, "sender": chain.anchorer}
    assert not functions.hasRole(ANCHOR_ROLE, chain.anchorer).call()
    name, _ = reverts_with(lambda: anchor(chain, 1, root(1), 1))
    assert name == "AccessControlUnauthorizedAccount"

    twice = chain.w3.eth.wait_for_transaction_receipt(
        functions.renounceRole(ANCHOR_ROLE, chain.anchorer).transact({"from": chain.anchorer}))
    assert twice["logs"] == []


def test_renounce_needs_the_callers_own_address(chain: Chain) -> None:
    functions = chain.anchor.functions
    name, args = reverts_with(lambda: functions.renounceRole(ANCHOR_ROLE, chain.anchorer).transact(
        {"from": chain.admin}))
    assert (name, args) == ("AccessControlBadConfirmation", ())
    assert functions.hasRole(ANCHOR_ROLE, chain.anchorer).call()


def test_anchor_gas_is_constant_and_under_the_ceiling(chain: Chain) -> None:
    """Every anchor() costs the same execution gas, the first one included, whatever the tree
    size, batch id or root; only the calldata price (zero bytes are cheaper) varies."""
    calls = [
        (1, root(1), 1),
        (2, root(2), 2),
        (3, root(3), 1_000),
        (10, b"\xff" * 32, 2**20),
        (11, root(4), 2**40),
        (2**32, root(5), 2**63),
        (2**64 - 1, root(6), 2**64 - 1),
    ]
    used, execution = [], []
    for batch_id, tree_root, tree_size in calls:
        receipt = anchor(chain, batch_id, tree_root, tree_size)
        assert receipt["status"] == 1
        calldata = bytes(chain.w3.eth.get_transaction(receipt["transactionHash"])["input"])
        used.append(receipt["gasUsed"])
        execution.append(receipt["gasUsed"] - intrinsic_gas(calldata))
    assert len(set(execution)) == 1, execution
    assert max(used) <= GAS_CEILING, used
