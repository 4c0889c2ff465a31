"""The one EVM chain the receipts are anchored on, through one JSON-RPC endpoint (web3.py).

A small typed surface over what anchoring needs: the chain id and head, block hashes (to notice
reorgs), the sender's pending nonce, a fee suggestion, sending a raw transaction and reading its
receipt, and, for the command line and the tests, deploying the ``ReceiptAnchor`` contract.
Transactions are built and signed locally (:func:`sign_anchor`, eth-account): nothing leaves
the process until :meth:`ChainClient.send_raw` sends the exact bytes that were persisted
before, so sending them again after a crash is harmless (same hash).

Fees follow EIP-1559 (base fee of the latest block plus a priority fee) and fall back to a
legacy ``gasPrice`` transaction on chains whose blocks carry no base fee (consortium chains
often do not). Every failure to talk to the node, or a node's refusal, raises
:class:`ChainError`; a refusal because the nonce is already used raises
:class:`NonceTooLow`, which the anchoring service tells apart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.exceptions import BlockNotFound, TransactionNotFound
from web3.types import RPCEndpoint

from market.receipts.contract import ANCHORED_TOPIC, BYTECODE

ANCHOR_SIGNATURE: Final = "anchor(uint64,bytes32,uint64)"
ANCHOR_SELECTOR: Final = keccak(text=ANCHOR_SIGNATURE)[:4]
# anchor() costs the same whatever the batch (about 36k gas in all); the limit leaves room.
ANCHOR_GAS_LIMIT: Final = 100_000
# When the node has no eth_maxPriorityFeePerGas and its fee history shows no tips.
DEFAULT_PRIORITY_FEE: Final = 1_000_000_000
RPC_TIMEOUT_SECONDS: Final = 10.0
_ALREADY_KNOWN = ("already known", "already imported", "known transaction",
                  "already exists")
_NONCE_TOO_LOW = ("nonce too low", "nonce is too low", "oldnonce")
_EXPECTED_NONCE = re.compile(r"nonce: expected (?P<expected>\d+), but got (?P<got>\d+)")

T = TypeVar("T")


class ChainError(Exception):
    """The node could not be reached, or it refused the request."""


class NonceTooLow(ChainError):
    """The node refused a transaction whose nonce the sender has already used."""


@dataclass(frozen=True)
class Fees:
    """What a transaction offers to pay per gas. ``max_priority_fee_per_gas`` None: a legacy
    transaction whose ``gasPrice`` is ``max_fee_per_gas`` (a chain without a base fee)."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int | None

    @property
    def legacy(self) -> bool:
        return self.max_priority_fee_per_gas is None

    def bumped(self, percent: int, floor: Fees | None = None) -> Fees:
        """These fees raised by ``percent`` (at least 10 % and one wei, as nodes require of
        a replacement), and at least ``floor`` (the current suggestion)."""
        pct = max(percent, 10)

        def up(value: int, least: int | None) -> int:
            raised = max(value + 1, -(-value * (100 + pct) // 100))
            return max(raised, least or 0)

        max_fee = up(self.max_fee_per_gas, floor.max_fee_per_gas if floor else None)
        if self.max_priority_fee_per_gas is None:
            return Fees(max_fee, None)
        tip = up(self.max_priority_fee_per_gas,
                 floor.max_priority_fee_per_gas if floor else None)
        return Fees(max(max_fee, tip), tip)


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction, not sent: its raw bytes and hash, both 0x-hex."""

    raw_tx: str
    tx_hash: str
    sender: str
    nonce: int
    fees: Fees


@dataclass(frozen=True)
class Log:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class TxReceipt:
    """A mined transaction: status 1 succeeded, 0 reverted."""

    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    gas_used: int
    contract_address: str | None
    logs: tuple[Log, ...]


@dataclass(frozen=True)
class Anchored:
    """An ``Anchored(batchId, root, treeSize)`` event."""

    contract: str
    batch_id: int
    root: bytes
    tree_size: int


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def address_of(private_key: str) -> str:
    """The checksummed address of a secp256k1 private key (hex, 0x optional)."""
    return str(Account.from_key(private_key).address)


def anchor_calldata(batch_id: int, root: bytes, tree_size: int) -> bytes:
    """The call data of ``anchor(batchId, root, treeSize)``."""
    if len(root) != 32:
        raise ValueError("a root is 32 bytes")
    return ANCHOR_SELECTOR + abi_encode(["uint64", "bytes32", "uint64"],
                                        [batch_id, root, tree_size])


def _sign(private_key: str, tx: dict[str, Any], fees: Fees) -> SignedTx:
    if fees.max_priority_fee_per_gas is None:
        tx["gasPrice"] = fees.max_fee_per_gas
    else:
        tx["maxFeePerGas"] = fees.max_fee_per_gas
        tx["maxPriorityFeePerGas"] = fees.max_priority_fee_per_gas
        tx["type"] = 2
    signed = Account.sign_transaction(tx, private_key)
    return SignedTx(_hex(signed.raw_transaction), _hex(signed.hash), address_of(private_key),
                    int(tx["nonce"]), fees)


def sign_anchor(private_key: str, *, chain_id: int, contract: str, nonce: int, fees: Fees,
                batch_id: int, root: bytes, tree_size: int,
                gas: int = ANCHOR_GAS_LIMIT) -> SignedTx:
    """Build and sign ``contract.anchor(batch_id, root, tree_size)`` locally; nothing is
    sent."""
    tx: dict[str, Any] = {
        "chainId": chain_id, "nonce": nonce, "to": Web3.to_checksum_address(contract),
        "value": 0, "gas": gas, "data": anchor_calldata(batch_id, root, tree_size),
    }
    return _sign(private_key, tx, fees)


def anchored_events(receipt: TxReceipt, contract: str | None = None) -> list[Anchored]:
    """The ``Anchored`` events in ``receipt`` (emitted by ``contract`` if given)."""
    found = []
    for log in receipt.logs:
        if len(log.topics) != 3 or log.topics[0] != ANCHORED_TOPIC:
            continue
        if contract is not None and log.address.lower() != contract.lower():
            continue
        (tree_size,) = abi_decode(["uint64"], log.data)
        found.append(Anchored(Web3.to_checksum_address(log.address),
                              int.from_bytes(log.topics[1], "big"), log.topics[2],
                              int(tree_size)))
    return found


def _receipt(data: Mapping[str, Any]) -> TxReceipt:
    logs = tuple(
        Log(str(entry["address"]), tuple(_bytes(t) for t in entry["topics"]),
            _bytes(entry["data"]))
        for entry in data.get("logs") or ()
    )
    contract_address = data.get("contractAddress")
    return TxReceipt(
        tx_hash=_hex(_bytes(data["transactionHash"])), status=int(data["status"]),
        block_number=int(data["blockNumber"]), block_hash=_hex(_bytes(data["blockHash"])),
        gas_used=int(data["gasUsed"]),
        contract_address=None if contract_address is None else str(contract_address),
        logs=logs,
    )


def _int(value: Any) -> int:
    """A JSON-RPC quantity: hex text from a node, an int from an in-process provider."""
    return int(value, 16) if isinstance(value, str) else int(value)


def _lower_nonce(text: str) -> bool:
    """Whether an in-process chain's "invalid transaction nonce: expected N, but got M"
    means a nonce below the account's."""
    found = _EXPECTED_NONCE.search(text)
    return found is not None and int(found["got"]) < int(found["expected"])


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return str(message if message is not None else exc)


class ChainClient:
    """One JSON-RPC endpoint. Close it (or use it as a context manager) when done."""

    def __init__(self, w3: Web3, *, session: requests.Session | None = None) -> None:
        self.w3 = w3
        self._session = session

    @classmethod
    def connect(cls, url: str, *, timeout: float = RPC_TIMEOUT_SECONDS) -> ChainClient:
        """A client of the node at ``url`` (http or https)."""
        session = requests.Session()
        provider = HTTPProvider(url, session=session, request_kwargs={"timeout": timeout})
        return cls(Web3(provider), session=session)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> ChainClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ChainError:
            raise
        except Exception as exc:  # web3, requests and in-process providers raise their own
            raise ChainError(f"{what}: {_message(exc)}") from exc

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw JSON-RPC call; its result (tests use it for ``evm_mine``, ``anvil_*``).

        Raises:
            ChainError: the node is unreachable or answered with an error.
        """
        response = self._call(method, lambda: self.w3.provider.make_request(
            RPCEndpoint(method), list(params)))
        if "error" in response:
            error = response["error"]
            message = error.get("message") if isinstance(error, Mapping) else error
            raise ChainError(f"{method}: {message}")
        return response.get("result")

    def chain_id(self) -> int:
        return self._call("eth_chainId", lambda: int(self.w3.eth.chain_id))

    def block_number(self) -> int:
        """The number of the head block."""
        return self._call("eth_blockNumber", lambda: int(self.w3.eth.block_number))

    def block_hash(self, number: int) -> str | None:
        """The hash of the canonical block ``number``, None beyond the head."""
        def get() -> str | None:
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                return None
            found = block.get("hash")
            return None if found is None else _hex(found)

        return self._call("eth_getBlockByNumber", get)

    def pending_nonce(self, address: str) -> int:
        """The next nonce of ``address``, counting its transactions still pending."""
        return self._call("eth_getTransactionCount", lambda: int(
            self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "pending")))

    def suggest_fees(self) -> Fees:
        """EIP-1559 fees: twice the latest base fee plus the priority fee the node suggests;
        a legacy gas price on chains without a base fee."""
        latest = self._call("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest"))
        base = latest.get("baseFeePerGas")
        if base is None:
            return Fees(self._call("eth_gasPrice", lambda: int(self.w3.eth.gas_price)), None)
        tip = self._priority_fee()
        return Fees(2 * int(base) + tip, tip)

    def _priority_fee(self) -> int:
        try:
            return _int(self.request("eth_maxPriorityFeePerGas"))
        except ChainError:  # not part of the standard API; some nodes lack it
            pass
        history = self._call("eth_feeHistory",
                             lambda: self.w3.eth.fee_history(10, "latest", [50]))
        tips = sorted(int(r[0]) for r in history.get("reward") or () if r and r[0] > 0)
        return tips[len(tips) // 2] if tips else DEFAULT_PRIORITY_FEE

    def send_raw(self, raw_tx: str) -> str:
        """Send a signed transaction; returns its hash. A node that already has it counts as
        success, so sending the same bytes again is harmless.

        Raises:
            NonceTooLow: the sender already used this nonce (in another transaction, or in
                this one, mined).
            ChainError: any other refusal, or the node is unreachable.
        """
        raw = _bytes(raw_tx)
        tx_hash = _hex(keccak(raw))
        try:
            self.request("eth_sendRawTransaction", [_hex(raw)])
        except ChainError as exc:
            text = str(exc).lower()
            if any(m in text for m in _ALREADY_KNOWN):
                return tx_hash
            if any(m in text for m in _NONCE_TOO_LOW) or _lower_nonce(text):
                raise NonceTooLow(str(exc)) from exc
            raise
        return tx_hash

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """The receipt of a mined transaction; None while it is unknown or pending."""
        def get() -> TxReceipt | None:
            try:
                data = self.w3.eth.get_transaction_receipt(cast(Any, tx_hash))
            except TransactionNotFound:
                return None
            return _receipt(cast(Mapping[str, Any], data))

        return self._call("eth_getTransactionReceipt", get)

    def wait_for_receipt(self, tx_hash: str, *, timeout: float = 30.0,
                         poll: float = 0.05) -> TxReceipt:
        """The receipt once the transaction is mined.

        Raises:
            ChainError: not mined within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.receipt(tx_hash)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise ChainError(f"transaction {tx_hash} not mined within {timeout} s")
            time.sleep(poll)

    def anchored(self, tx_hash: str, contract: str | None = None) -> list[Anchored]:
        """The ``Anchored`` events of a mined transaction (none if it is not mined)."""
        found = self.receipt(tx_hash)
        return [] if found is None else anchored_events(found, contract)

    def deploy(self, private_key: str, *, admin: str | None = None,
               anchorer: str | None = None, timeout: float = 60.0) -> TxReceipt:
        """Deploy ``ReceiptAnchor(admin, anchorer)`` from ``private_key``'s account (both
        roles default to it) and wait for it; the receipt's ``contract_address`` is the
        contract.

        Raises:
            ChainError: the node refused or reverted the deployment, or it was not mined
                within ``timeout`` seconds.
        """
        sender = address_of(private_key)
        args = abi_encode(["address", "address"], [Web3.to_checksum_address(admin or sender),
                                                   Web3.to_checksum_address(anchorer or sender)])
        data = _bytes(BYTECODE) + args
        estimate = self._call("eth_estimateGas", lambda: self.w3.eth.estimate_gas(
            cast(Any, {"from": sender, "data": _hex(data)})))
        tx: dict[str, Any] = {"chainId": self.chain_id(), "nonce": self.pending_nonce(sender),
                              "value": 0, "gas": _int(estimate) * 6 // 5, "data": data}
        signed = _sign(private_key, tx, self.suggest_fees())
        found = self.wait_for_receipt(self.send_raw(signed.raw_tx), timeout=timeout)
        if found.status != 1 or found.contract_address is None:
            raise ChainError(f"deployment {found.tx_hash} reverted")
        return found
