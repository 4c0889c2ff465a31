"""The ReceiptAnchor artifact shipped in the package matches its source and the receipts spec.

The artifact (market/receipts/data/ReceiptAnchor.json) is committed so that nothing compiles
Solidity at run time. These tests catch a stale artifact: its recorded source hash must match
contracts/ReceiptAnchor.sol, and where node and the pinned solc are installed
(``npm ci --prefix contracts``) a fresh build must be byte-identical. Under CI (``CI=true``) a
missing node or solc fails instead of skipping, so the rebuild check cannot silently vanish.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from market.receipts import contract

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
SOURCE = CONTRACTS / "ReceiptAnchor.sol"
ARTIFACT = ROOT / "market" / "receipts" / "data" / "ReceiptAnchor.json"


def pinned_solc() -> str:
    package = json.loads((CONTRACTS / "package.json").read_text())
    version: str = package["devDependencies"]["solc"]
    return version


def signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(arg['type'] for arg in item['inputs'])})"


def abi_items(kind: str) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in contract.ABI if item["type"] == kind}


def test_the_artifact_records_the_committed_source() -> None:
    assert contract.artifact()["sourceSha256"] == hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def test_the_artifact_is_in_the_form_build_js_writes() -> None:
    text = ARTIFACT.read_text("utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert list(data) == [
        "contractName", "compiler", "settings", "sourceSha256", "abi", "bytecode",
        "deployedBytecode"]
    assert data["contractName"] == "ReceiptAnchor"
    assert data["compiler"]["name"] == "solc"
    assert re.fullmatch(r"0x(?:[0-9a-f]{2})+", data["bytecode"])
    assert re.fullmatch(r"0x(?:[0-9a-f]{2})+", data["deployedBytecode"])
    assert data == contract.artifact()


def test_source_pragma_package_pin_and_artifact_agree_on_the_compiler() -> None:
    version = pinned_solc()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "package.json must pin an exact solc"
    assert f"pragma solidity {version};" in SOURCE.read_text("utf-8")
    assert contract.artifact()["compiler"]["version"].startswith(f"{version}+commit.")


def test_the_package_ships_the_artifact() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert "receipts/data/*.json" in pyproject["tool"]["setuptools"]["package-data"]["market"]


def test_the_abi_is_the_interface_of_the_receipts_spec() -> None:
    functions = abi_items("function")
    assert {signature(f) for f in functions.values()} >= {
        "anchor(uint64,bytes32,uint64)", "head()", "hasRole(bytes32,address)",
        "grantRole(bytes32,address)", "revokeRole(bytes32,address)",
        "renounceRole(bytes32,address)", "DEFAULT_ADMIN_ROLE()", "ANCHOR_ROLE()"}
    assert [(o["name"], o["type"]) for o in functions["head"]["outputs"]] == [
        ("batchId", "uint64"), ("treeSize", "uint64"), ("root", "bytes32")]
    assert functions["head"]["stateMutability"] == "view"
    assert functions["hasRole"]["stateMutability"] == "view"

    events = abi_items("event")
    assert [(i["name"], i["type"], i["indexed"]) for i in events["Anchored"]["inputs"]] == [
        ("batchId", "uint64", True), ("root", "bytes32", True), ("treeSize", "uint64", False)]
    for name in ("RoleGranted", "RoleRevoked"):
        assert [(i["name"], i["type"], i["indexed"]) for i in events[name]["inputs"]] == [
            ("role", "bytes32", True), ("account", "address", True),
            ("sender", "address", True)]

    assert {signature(e) for e in abi_items("error").values()} >= {
        "AccessControlUnauthorizedAccount(address,bytes32)",
        "BatchIdNotIncreasing(uint64,uint64)", "TreeSizeNotIncreasing(uint64,uint64)"}
    (constructor,) = [item for item in contract.ABI if item["type"] == "constructor"]
    assert [(i["name"], i["type"]) for i in constructor["inputs"]] == [
        ("admin", "address"), ("anchorer", "address")]


def test_the_python_constants_match_the_abi() -> None:
    assert keccak(text=signature(abi_items("event")["Anchored"])) == contract.ANCHORED_TOPIC
    assert keccak(text="ANCHOR_ROLE") == contract.ANCHOR_ROLE
    assert bytes(32) == contract.DEFAULT_ADMIN_ROLE
    assert contract.artifact()["bytecode"] == contract.BYTECODE
    assert contract.load() is contract.artifact()


def test_a_fresh_build_is_byte_identical_to_the_committed_artifact() -> None:
    node = shutil.which("node")
    solc = CONTRACTS / "node_modules" / "solc" / "package.json"
    if node is None or not solc.exists():
        missing = "node" if node is None else "contracts/node_modules/solc"
        message = f"{missing} is missing: run `npm ci --prefix contracts` to check the artifact"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must rebuild the contract artifact, but {message}")
        pytest.skip(message)
    result = subprocess.run([node, str(CONTRACTS / "build.js"), "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr or result.stdout
