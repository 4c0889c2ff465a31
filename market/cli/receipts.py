"""Receipts (the log's sequencer, anchoring on a chain, proof bundles and the verifier) and
dispute evidence bundles."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from market.cli.common import _emit, _moved, _sessions, _settings, _uow, main
from market.cli.duties import _anchor
from market.receipts import services as receipts
from market.trading import services as trading


@main.group("receipts")
def receipts_group() -> None:
    """Receipts: the log, its anchoring on a chain, proof bundles."""


@receipts_group.command("sequence")
@click.option("--json", "as_json", is_flag=True)
def receipts_sequence(as_json: bool) -> None:
    """Append the queued receipts to the log and sign a checkpoint (the worker also does
    this)."""
    settings = _settings()
    appended = receipts.sequence(_uow(settings, "receipts"))
    out = {"suite": appended.suite, "from_size": appended.from_size,
           "tree_size": appended.tree_size, "root": appended.root,
           "checkpoint_id": appended.checkpoint_id}
    _emit(as_json, out, lambda: click.echo(
        f"log {appended.suite}: {appended.from_size} -> {appended.tree_size} leaves, "
        f"root {appended.root}"))


@receipts_group.command("anchor")
@click.option("--json", "as_json", is_flag=True)
def receipts_anchor(as_json: bool) -> None:
    """Run one anchoring tick now (the worker does this when anchoring is on)."""
    settings = _settings()
    done = _anchor(_sessions(settings), settings)
    _emit(as_json, done, lambda: click.echo(_moved(done) or "nothing to do"))
    if done["errors"]:
        sys.exit(1)


@receipts_group.command("anchor-status")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def receipts_anchor_status(limit: int, as_json: bool) -> None:
    """The newest anchoring batches: state, tree size, transaction and block."""
    rows = receipts.list_batches(uow=_uow(_settings(), "receipts"), limit=limit)
    if as_json:
        click.echo(json.dumps({"batches": rows}, default=str))
        return
    click.echo(f"{'batch':>6} {'status':11} {'tree size':>10} {'tx':12} {'block':>8} "
               f"{'gas':>7} {'tries':>5}  error")
    for b in rows:
        click.echo(f"{b['id']:>6} {b['status']:11} {b['tree_size'] or '-':>10} "
                   f"{(b['tx_hash'] or '-')[:12]:12} {b['block_number'] or '-':>8} "
                   f"{b['gas_used'] or '-':>7} {b['attempts']:>5}  {b['last_error'] or ''}")


@receipts_group.command("deploy")
@click.option("--rpc", "rpc_url", required=True, help="JSON-RPC URL of the chain")
@click.option("--key", required=True, help="Deployer's private key (hex); admin of the roles")
@click.option("--anchorer", default=None, help="Address given ANCHOR_ROLE (the deployer's "
              "by default)")
@click.option("--json", "as_json", is_flag=True)
def receipts_deploy(rpc_url: str, key: str, anchorer: str | None, as_json: bool) -> None:
    """Deploy the ReceiptAnchor contract; print its address."""
    from market.receipts.chain import ChainClient, ChainError, address_of

    try:
        with ChainClient.connect(rpc_url) as client:
            deployed = client.deploy(key, anchorer=anchorer)
            chain_id = client.chain_id()
    except (ChainError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = {"contract": deployed.contract_address, "chain_id": chain_id,
           "tx_hash": deployed.tx_hash, "block_number": deployed.block_number,
           "admin": address_of(key), "anchorer": anchorer or address_of(key)}
    _emit(as_json, out, lambda: click.echo(deployed.contract_address))


@receipts_group.command("list")
@click.argument("subject")
@click.option("--json", "as_json", is_flag=True)
def receipts_list(subject: str, as_json: bool) -> None:
    """The receipts of one record, SUBJECT as ``<type>:<id>`` (``order:ord_…``,
    ``filing:fil_…``, ``certificate:DR-…``, ``product_version:ver_…``)."""
    subject_type, _, subject_id = subject.partition(":")
    if not subject_id:
        raise click.BadParameter("write it as <type>:<id>, e.g. order:ord_…")
    found = receipts.receipts_for(subject_type, subject_id, uow=_uow(_settings(), "receipts"))
    _emit(as_json, {"items": found}, lambda: click.echo("\n".join(
        f"{r['id']}  {r['kind']:28} leaf {r['leaf_index']}  {r['digest']}" for r in found)))


@receipts_group.command("bundle")
@click.argument("receipt_id")
def receipts_bundle(receipt_id: str) -> None:
    """Print a receipt's proof bundle (JSON), for `market receipts verify` or anyone's
    copy of the verifier."""
    bundle = receipts.proof_bundle(receipt_id, uow=_uow(_settings(), "receipts"))
    click.echo(json.dumps(bundle, indent=2, ensure_ascii=False, default=str))


@receipts_group.command("verify")
@click.argument("bundle", type=click.File("r", encoding="utf-8"))
@click.option("--rpc", "rpc_url", default=None, help="Check the anchor on this chain")
@click.option("--signer", default=None, help="The platform's key to trust (address or SM2)")
@click.option("--min-confirmations", default=1, show_default=True, type=click.IntRange(1))
def receipts_verify(bundle: Any, rpc_url: str | None, signer: str | None,
                    min_confirmations: int) -> None:
    """Verify a receipt's proof bundle (JSON); print the report; exit 1 unless it holds."""
    from market.receipts import verifier

    try:
        data = json.load(bundle)
    except ValueError as exc:
        raise click.ClickException(f"not a JSON bundle: {exc}") from exc
    report = verifier.verify_bundle(data, trusted_signer=signer, rpc_url=rpc_url,
                                    min_confirmations=min_confirmations)
    click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    if not report.ok:
        sys.exit(1)


@main.group("disputes")
def disputes_group() -> None:
    """Disputes and arbitration."""


@disputes_group.command("verify-bundle")
@click.argument("bundle", type=click.File("r", encoding="utf-8"))
@click.option("--signer", default=None, help="The platform's address to trust")
def disputes_verify_bundle(bundle: Any, signer: str | None) -> None:
    """Verify a dispute's evidence bundle (JSON, as GET /disputes/{id}/evidence-bundle
    answers it) offline: its digest and the platform's signature; print the report; exit 1
    unless it holds."""
    try:
        data = json.load(bundle)
    except ValueError as exc:
        raise click.ClickException(f"not a JSON bundle: {exc}") from exc
    if not isinstance(data, dict):
        raise click.ClickException("not a JSON bundle: an object expected")
    report = trading.verify_evidence_bundle(data, trusted_signer=signer)
    click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    if not report.ok:
        sys.exit(1)
