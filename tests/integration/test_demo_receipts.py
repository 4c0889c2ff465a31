"""The demo trade's receipts, anchored on a real chain (anvil) and checked from the outside,
for both suites: the command line deploys the anchor contract, runs the demo, sequences and
anchors the log, exports a proof bundle and verifies it against the chain with the
platform's key pinned; changing any part of the bundle fails the verification, naming the
part."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from market.cli import main
from market.kernel.config import Settings
from market.receipts import services as receipts
from market.receipts.chain import ChainClient, address_of
from market.receipts.suites import sm2_public_key

ANVIL_CHAIN_ID = 31337


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def restore_issuer(settings: Settings) -> Iterator[None]:
    yield
    receipts.configure(settings)  # the commands configured the instance's own keys


def _platform_key(instance: Path, suite: str) -> str:
    """The identity to pin, derived from the instance's own private key (not the bundle)."""
    if suite == "sm2-sm3":
        return sm2_public_key((instance / "sm2_signing_key").read_text().strip())
    return address_of((instance / "signing_key").read_text().strip())


@pytest.mark.usefixtures("restore_issuer")
@pytest.mark.parametrize("suite", ["secp256k1-sha256", "sm2-sm3"])
def test_a_demo_receipt_verifies_against_the_chain_and_any_change_is_named(
    suite: str, anvil: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    env = {"MARKET_INSTANCE_PATH": str(instance), "MARKET_RECEIPT_SUITE": suite}
    assert run(env, "db", "upgrade").exit_code == 0
    key = "0x" + secrets.token_hex(32)
    with ChainClient.connect(anvil) as chain:
        chain.request("anvil_setBalance", [address_of(key), hex(10**21)])
        deployed = run(env, "receipts", "deploy", "--rpc", anvil, "--key", key, "--json")
        assert deployed.exit_code == 0, deployed.output
        env.update({"MARKET_CHAIN_RPC_URL": anvil, "MARKET_CHAIN_ID": str(ANVIL_CHAIN_ID),
                    "MARKET_ANCHOR_CONTRACT": json.loads(deployed.output)["contract"],
                    "MARKET_ANCHOR_KEY": key, "MARKET_ANCHOR_BATCH_SIZE": "1",
                    "MARKET_ANCHOR_CONFIRMATIONS": "2"})

        trade = json.loads(run(env, "demo", "--json").output)["trade"]
        assert trade["status"] == "settled"
        assert run(env, "receipts", "sequence").exit_code == 0
        statuses = []
        for _ in range(6):  # open, seal, send, include, then 2 confirmations
            ticked = run(env, "receipts", "anchor")
            assert ticked.exit_code == 0, ticked.output
            (batch,) = json.loads(run(env, "receipts", "anchor-status", "--json").output)[
                "batches"]
            statuses.append(batch["status"])
            if batch["status"] == "finalized":
                break
            chain.request("anvil_mine", ["0x1"])
        assert statuses[-1] == "finalized", statuses

    listed = json.loads(run(env, "receipts", "list", f"order:{trade['order_id']}",
                            "--json").output)["items"]
    kinds = {r["kind"]: r["id"] for r in listed}
    assert set(kinds) == {"order.contract", "settlement.escrow_payment",
                          "settlement.settlement"}
    exported = run(env, "receipts", "bundle", kinds["settlement.escrow_payment"])
    assert exported.exit_code == 0, exported.output
    bundle = json.loads(exported.output)
    assert bundle["receipt"]["signature"]["suite"] == suite
    assert bundle["anchor"]["status"] == "finalized"
    signer = _platform_key(instance, suite)
    path = tmp_path / "bundle.json"

    def verify(candidate: dict[str, Any]) -> dict[str, Any]:
        path.write_text(json.dumps(candidate))
        result = run(env, "receipts", "verify", str(path), "--rpc", anvil, "--signer", signer,
                     "--min-confirmations", "2")
        report: dict[str, Any] = json.loads(result.output)
        assert result.exit_code == (0 if report["ok"] else 1)
        return report

    report = verify(bundle)
    assert (report["ok"], report["status"]) == (True, "verified"), report
    # the order moved on (paid → delivered → settled): the receipt still says what was true
    # when the money went into escrow
    record = bundle["receipt"]["body"]["record"]
    assert record["amount"] == sum(a["amount"] for a in trade["allocations"])
    assert "paid_at" in record

    def flip_hex(value: str) -> str:
        head = value[:-1]
        return head + ("0" if value[-1] != "0" else "1")

    changes: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
        ("body", lambda b: b["receipt"]["body"]["record"].update(amount=1)),
        ("body", lambda b: b["receipt"].update(digest=flip_hex(b["receipt"]["digest"]))),
        ("signature", lambda b: b["receipt"]["signature"].update(
            value=flip_hex(b["receipt"]["signature"]["value"][:-2]) +
            b["receipt"]["signature"]["value"][-2:])),
        ("inclusion", lambda b: b["log"]["inclusion_proof"].__setitem__(
            0, flip_hex(b["log"]["inclusion_proof"][0]))),
        ("checkpoint", lambda b: b["log"].update(
            checkpoint=b["log"]["checkpoint"].replace("\n", "\n\n", 1))),
        ("anchor", lambda b: b["anchor"].update(root=flip_hex(b["anchor"]["root"]))),
        ("anchor", lambda b: b["anchor"].update(block_hash=flip_hex(b["anchor"]["block_hash"]))),
    ]
    for part, change in changes:
        altered = copy.deepcopy(bundle)
        change(altered)
        found = verify(altered)
        assert (found["ok"], found["failed"]) == (False, part), (part, found)
