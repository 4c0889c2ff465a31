"""The ReceiptAnchor contract as built: ABI, creation bytecode and the constants callers need.

The compiled artifact ships inside the package (``market/receipts/data/ReceiptAnchor.json``,
written by ``contracts/build.js`` from ``contracts/ReceiptAnchor.sol``), so deploying or calling
the contract never needs a Solidity compiler at run time. The artifact records the compiler,
its settings and the SHA-256 of the source it was built from.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Final

from eth_utils.crypto import keccak

ARTIFACT_NAME: Final = "ReceiptAnchor.json"


@cache
def artifact() -> dict[str, Any]:
    """The parsed artifact: contractName, compiler, settings, sourceSha256, abi, bytecodes.

    Read once; callers get the same object, so they must not mutate it.
    """
    text = resources.files("market.receipts").joinpath("data", ARTIFACT_NAME).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load() -> dict[str, Any]:
    """Same as :func:`artifact` (the name the receipts spec uses)."""
    return artifact()


ABI: Final[list[dict[str, Any]]] = artifact()["abi"]
BYTECODE: Final[str] = artifact()["bytecode"]  # 0x-prefixed creation code
DEPLOYED_BYTECODE: Final[str] = artifact()["deployedBytecode"]  # 0x-prefixed runtime code

DEFAULT_ADMIN_ROLE: Final = bytes(32)
ANCHOR_ROLE: Final = keccak(b"ANCHOR_ROLE")
# topic0 of ``Anchored(uint64 indexed batchId, bytes32 indexed root, uint64 treeSize)``
ANCHORED_TOPIC: Final = keccak(b"Anchored(uint64,bytes32,uint64)")
