"""The stand-alone bundle verifier: a bundle built here verifies, and every tampered part is
named as the part that fails. The anchor's on-chain check is read against a fake JSON-RPC
node on a loopback port."""

from __future__ import annotations

import ast
import base64
import copy
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from market.kernel.canonical import dumps
from market.receipts import verifier as v
from market.receipts.checkpoint import sign_checkpoint
from market.receipts.suites import Secp256k1Suite, Sm2Suite, Suite

SUITES: dict[str, Suite] = {
    "secp256k1-sha256": Secp256k1Suite("0x" + "4c" * 32),
    "sm2-sm3": Sm2Suite("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"),
}
OTHER_KEYS: dict[str, Suite] = {
    "secp256k1-sha256": Secp256k1Suite("0x" + "4d" * 32),
    "sm2-sm3": Sm2Suite("01" * 32),
}
VERIFIER = Path(v.__file__)

Bundle = dict[str, Any]


# --- Building bundles (RFC 9162 §2.1.1 and §2.1.3.1, written out recursively) ---

def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _mth(h: v.Hash, data: list[bytes]) -> bytes:
    if not data:
        return v.empty_root(h)
    if len(data) == 1:
        return v.leaf_hash(h, data[0])
    k = _split(len(data))
    return v.node_hash(h, _mth(h, data[:k]), _mth(h, data[k:]))


def _path(h: v.Hash, m: int, data: list[bytes]) -> list[bytes]:
    if len(data) == 1:
        return []
    k = _split(len(data))
    if m < k:
        return [*_path(h, m, data[:k]), _mth(h, data[k:])]
    return [*_path(h, m - k, data[k:]), _mth(h, data[:k])]


def build(suite_name: str, *, size: int = 7, index: int = 3, logged: bool = True,
          anchored: bool = True, signer: Suite | None = None) -> Bundle:
    suite = signer or SUITES[suite_name]
    origin = f"market.example/receipts/{suite_name}"
    body = {"v": 1, "suite": suite_name, "log": origin, "kind": "order.contract",
            "subject": "order:01J0000000000000000000000", "issued_at": 1_700_000_000,
            "record": {"id": "01J", "amount": "10.00", "parties": ["org-a", "org-b"]}}
    digest = suite.hash(dumps(body)).hex()
    value = suite.sign_receipt(body["kind"], body["subject"], digest, body["issued_at"])
    bundle: Bundle = {
        "format": "market.receipt-proof/v1",
        "receipt": {"id": "rcp_01J", "body": body, "digest": digest,
                    "signature": {"suite": suite_name, "signer": suite.identity,
                                  "value": value}},
        "log": None, "anchor": None,
    }
    if not logged:
        return bundle
    data = [suite.hash(f"other receipt {i}".encode()) for i in range(size)]
    data[index] = bytes.fromhex(digest)
    root = _mth(suite.hash, data)
    bundle["log"] = {
        "origin": origin, "suite": suite_name, "public_key": suite.identity,
        "leaf_index": index, "tree_size": size,
        "inclusion_proof": [p.hex() for p in _path(suite.hash, index, data)],
        "checkpoint": sign_checkpoint(suite, origin, size, root, 1_700_000_100),
    }
    if anchored:
        bundle["anchor"] = {"chain_id": 31337, "contract": "0x" + "ab" * 20, "batch_id": 7,
                            "tree_size": size, "root": root.hex(), "tx_hash": "0x" + "cd" * 32,
                            "block_number": 12, "block_hash": "0x" + "ef" * 32}
    return bundle


_BUNDLES: dict[str, Bundle] = {}


@pytest.fixture(params=sorted(SUITES))
def bundle(request: pytest.FixtureRequest) -> Bundle:
    if request.param not in _BUNDLES:
        _BUNDLES[request.param] = build(request.param)
    return copy.deepcopy(_BUNDLES[request.param])


def _flip_hex(text: str, position: int = -1) -> str:
    """``text`` with the hex digit at ``position`` changed (one byte differs)."""
    chars = list(text)
    chars[position] = "0" if chars[position] not in "0" else "1"
    return "".join(chars)


def _flip_signature(note: str) -> str:
    head, encoded = note.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[12] ^= 0x01
    return f"{head} {base64.b64encode(bytes(raw)).decode()}\n"


def _flip_root_line(note: str) -> str:
    lines = note.split("\n")
    lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]
    return "\n".join(lines)


# --- A good bundle ---

def test_a_good_bundle_verifies(bundle: Bundle) -> None:
    report = v.verify_bundle(bundle, trusted_signer=bundle["receipt"]["signature"]["signer"])
    assert report.ok, report.as_dict()
    assert report.failed is None
    assert report.status == "verified"
    assert [p.name for p in report.parts] == list(v.PARTS)
    assert "not checked on chain" in report.part("anchor").detail


def test_an_unpinned_signer_is_reported(bundle: Bundle) -> None:
    report = v.verify_bundle(bundle)
    assert report.ok
    assert report.part("signer").ok
    assert report.part("signer").detail == "not pinned: pass the platform's key to trust it"


@pytest.mark.parametrize("suite_name", sorted(SUITES))
@pytest.mark.parametrize(("size", "index"), [(1, 0), (2, 1), (8, 0), (9, 8)])
def test_every_position_verifies(suite_name: str, size: int, index: int) -> None:
    assert v.verify_bundle(build(suite_name, size=size, index=index)).ok


def test_a_bundle_from_another_key_fails_the_pinned_signer(bundle: Bundle) -> None:
    suite_name = bundle["receipt"]["signature"]["suite"]
    foreign = build(suite_name, signer=OTHER_KEYS[suite_name])
    assert v.verify_bundle(foreign).ok  # verifies on its own terms...
    report = v.verify_bundle(foreign, trusted_signer=SUITES[suite_name].identity)
    assert report.failed == "signer"  # ...but not as the platform's


def test_the_pinned_address_compares_without_case(bundle: Bundle) -> None:
    signer = bundle["receipt"]["signature"]["signer"]
    assert v.verify_bundle(bundle, trusted_signer=signer.lower()).ok


# --- Every tampered part is named ---

def _set(path: str, value: Callable[[Any], Any]) -> Callable[[Bundle], None]:
    *parents, last = path.split(".")

    def change(b: Bundle) -> None:
        node: Any = b
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key: Any = int(last) if isinstance(node, list) else last
        node[key] = value(node[key])

    return change


TAMPERING: list[tuple[str, Callable[[Bundle], None], str]] = [
    ("format", _set("format", lambda _: "market.receipt-proof/v2"), "format"),
    ("receipt missing", _set("receipt", lambda _: None), "format"),
    ("unknown suite", _set("receipt.signature.suite", lambda _: "ed25519"), "format"),
    ("body field", _set("receipt.body.record.amount", lambda _: "10.01"), "body"),
    ("body kind", _set("receipt.body.kind", lambda _: "order.contracts"), "body"),
    ("body issued_at", _set("receipt.body.issued_at", lambda t: t + 1), "body"),
    ("body version", _set("receipt.body.v", lambda _: 2), "body"),
    ("body float", _set("receipt.body.record.amount", lambda _: float("nan")), "body"),
    ("digest", _set("receipt.digest", _flip_hex), "body"),
    ("signature", _set("receipt.signature.value", _flip_hex), "signature"),
    ("signature middle", _set("receipt.signature.value", lambda s: _flip_hex(s, 40)),
     "signature"),
    ("signer", _set("receipt.signature.signer", lambda s: _flip_hex(s, 20)), "signature"),
    ("log leaf_index type", _set("log.leaf_index", str), "log"),
    ("log proof element type", _set("log.inclusion_proof.0", lambda p: p[:-2]), "log"),
    ("checkpoint text", _set("log.checkpoint", _flip_root_line), "checkpoint"),
    ("checkpoint signature", _set("log.checkpoint", _flip_signature), "checkpoint"),
    ("checkpoint key name", _set("log.checkpoint", lambda n: n.replace("— market", "— marke")),
     "checkpoint"),
    ("log public key", _set("log.public_key", lambda k: _flip_hex(k, 20)), "checkpoint"),
    ("log origin", _set("log.origin", lambda o: o + "x"), "checkpoint"),
    ("log suite", _set("log.suite", lambda _: "sm3-sm2"), "checkpoint"),
    ("tree size", _set("log.tree_size", lambda n: n + 1), "checkpoint"),
    ("proof element", _set("log.inclusion_proof.0", _flip_hex), "inclusion"),
    ("proof element last", _set("log.inclusion_proof.2", lambda p: _flip_hex(p, 0)),
     "inclusion"),
    ("proof shortened", _set("log.inclusion_proof", lambda p: p[:-1]), "inclusion"),
    ("leaf index", _set("log.leaf_index", lambda i: i + 1), "inclusion"),
    ("leaf index beyond", _set("log.leaf_index", lambda _: 7), "inclusion"),
    ("anchor root", _set("anchor.root", _flip_hex), "anchor"),
    ("anchor tree size", _set("anchor.tree_size", lambda n: n - 1), "anchor"),
    ("anchor tx hash", _set("anchor.tx_hash", lambda t: t[:-2]), "anchor"),
    ("anchor contract", _set("anchor.contract", lambda _: "0x1234"), "anchor"),
    ("anchor chain id", _set("anchor.chain_id", lambda _: "31337"), "anchor"),
]


@pytest.mark.parametrize(("change", "part"), [(c, p) for _, c, p in TAMPERING],
                         ids=[name for name, _, _ in TAMPERING])
def test_a_tampered_part_is_named(bundle: Bundle, change: Callable[[Bundle], None],
                                  part: str) -> None:
    trusted = SUITES[bundle["receipt"]["signature"]["suite"]].identity
    change(bundle)
    report = v.verify_bundle(bundle, trusted_signer=trusted)
    assert not report.ok
    assert report.failed == part, report.as_dict()
    assert report.status == "failed"
    assert [p.name for p in report.parts] == list(v.PARTS)
    failing = report.part(part)
    assert failing.detail
    assert not failing.detail.startswith("cannot check"), failing.detail


def test_parts_resting_on_a_failed_one_are_not_checked(bundle: Bundle) -> None:
    _set("log.checkpoint", _flip_signature)(bundle)
    report = v.verify_bundle(bundle)
    assert report.part("inclusion").detail.startswith("not checked")
    assert report.part("anchor").detail.startswith("not checked")
    assert not report.part("inclusion").ok


# --- Pending receipts ---

@pytest.mark.parametrize("suite_name", sorted(SUITES))
def test_a_pending_receipt_is_ok_and_pending(suite_name: str) -> None:
    report = v.verify_bundle(build(suite_name, logged=False))
    assert report.ok
    assert report.pending
    assert report.status == "pending"
    assert report.part("log").detail.startswith("pending")
    assert report.part("checkpoint").detail.startswith("skipped")
    assert report.part("inclusion").detail.startswith("skipped")


def test_a_pending_receipt_with_a_bad_signature_fails() -> None:
    bundle = build("secp256k1-sha256", logged=False)
    _set("receipt.signature.value", _flip_hex)(bundle)
    report = v.verify_bundle(bundle)
    assert (report.ok, report.failed, report.status) == (False, "signature", "failed")


def test_an_anchor_without_a_log_entry_fails() -> None:
    bundle = build("secp256k1-sha256")
    bundle["log"] = None
    assert v.verify_bundle(bundle).failed == "anchor"


def test_a_logged_receipt_not_yet_anchored_verifies() -> None:
    report = v.verify_bundle(build("sm2-sm3", anchored=False))
    assert report.ok
    assert report.part("anchor").detail == "not anchored yet"


# --- Never raising ---

@pytest.mark.parametrize("junk", [None, [], "bundle", 7, {}, {"format": "market.receipt-proof/v1"},
                                  {"format": "market.receipt-proof/v1", "receipt": []}])
def test_junk_is_a_failed_format(junk: Any) -> None:
    report = v.verify_bundle(junk)
    assert report.failed == "format"
    assert [p.name for p in report.parts] == list(v.PARTS)


def _paths(node: Any, prefix: str = "") -> Iterator[str]:
    items = enumerate(node) if isinstance(node, list) else (
        node.items() if isinstance(node, dict) else ())
    for key, child in items:
        path = f"{prefix}{key}"
        yield path
        yield from _paths(child, path + ".")


@pytest.mark.parametrize("replacement", [None, 0, -1, True, "", "x", [], {}, 2**70, 1.5])
def test_any_field_replaced_never_raises(replacement: Any) -> None:
    good = build("secp256k1-sha256", size=3, index=1)
    for path in _paths(good):
        bundle = copy.deepcopy(good)
        _set(path, lambda _: copy.deepcopy(replacement))(bundle)
        report = v.verify_bundle(bundle)
        assert [p.name for p in report.parts] == list(v.PARTS)
        for part in report.parts:
            assert not part.detail.startswith("cannot check"), (path, part)


# --- Stand-alone ---

def test_the_verifier_imports_nothing_of_the_app_but_canonical() -> None:
    tree = ast.parse(VERIFIER.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            assert node.module is not None
            imported.add(node.module)
    from_market = {name for name in imported if name.split(".")[0] == "market"}
    assert from_market == {"market.kernel.canonical"}
    allowed_roots = {"argparse", "base64", "hashlib", "json", "re", "sys", "urllib",
                     "collections", "dataclasses", "typing", "__future__", "eth_account",
                     "eth_keys", "eth_utils", "gmssl", "rfc8785", "market"}
    assert {name.split(".")[0] for name in imported} <= allowed_roots


def test_the_cli_prints_a_report_and_exits_by_it(
    bundle: Bundle, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    signer = bundle["receipt"]["signature"]["signer"]
    assert v.main([str(path), "--signer", signer]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is True
    assert printed["status"] == "verified"
    assert [p["name"] for p in printed["parts"]] == list(v.PARTS)
    _set("log.inclusion_proof.0", _flip_hex)(bundle)
    path.write_text(json.dumps(bundle))
    assert v.main([str(path)]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert (printed["ok"], printed["failed"]) == (False, "inclusion")


def test_the_cli_reports_an_unreadable_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert v.main([str(tmp_path / "missing.json")]) == 1
    assert json.loads(capsys.readouterr().out)["failed"] == "format"
    (tmp_path / "nan.json").write_text('{"format": NaN}')
    assert v.main([str(tmp_path / "nan.json")]) == 1
    assert json.loads(capsys.readouterr().out)["failed"] == "format"


def test_a_copy_runs_alone_without_the_app(tmp_path: Path) -> None:
    copied = tmp_path / "verifier.py"
    copied.write_bytes(VERIFIER.read_bytes())
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    bundle = build("sm2-sm3")
    good.write_text(json.dumps(bundle))
    _set("receipt.body.record.amount", lambda _: "10.01")(bundle)
    bad.write_text(json.dumps(bundle))
    # ``market`` cannot be imported: the copy falls back to the rfc8785 library.
    runner = ("import runpy, sys; sys.modules['market'] = None; sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")
    for path, code, ok in ((good, 0, True), (bad, 1, False)):
        done = subprocess.run([sys.executable, "-c", runner, str(copied), str(path)],
                              capture_output=True, text=True, cwd=tmp_path, check=False)
        assert done.returncode == code, done.stderr
        assert json.loads(done.stdout)["ok"] is ok


# --- The anchor on chain, against a fake JSON-RPC node ---

class FakeNode:
    """Answers JSON-RPC calls from canned results, keyed by method."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}
        self.errors: dict[str, Any] = {}
        self.calls: list[tuple[str, list[Any]]] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.calls.append((request["method"], request["params"]))
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"]}
                if request["method"] in node.errors:
                    answer["error"] = node.errors[request["method"]]
                else:
                    answer["result"] = node.results.get(request["method"])
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,),
                                       daemon=True)

    def answer_for(self, anchor: dict[str, Any], *, head: int = 20) -> None:
        word = "0x{:064x}".format
        self.results = {
            "eth_chainId": hex(anchor["chain_id"]),
            "eth_getTransactionReceipt": {
                "transactionHash": anchor["tx_hash"], "status": "0x1",
                "blockNumber": hex(anchor["block_number"]), "blockHash": anchor["block_hash"],
                "logs": [
                    {"address": "0x" + "99" * 20, "topics": [v.ANCHORED_TOPIC], "data": "0x"},
                    {"address": anchor["contract"].upper().replace("0X", "0x"),
                     "topics": [v.ANCHORED_TOPIC, word(anchor["batch_id"]),
                                "0x" + anchor["root"]],
                     "data": word(anchor["tree_size"]), "removed": False},
                ],
            },
            "eth_getBlockByNumber": {"number": hex(anchor["block_number"]),
                                     "hash": anchor["block_hash"]},
            "eth_blockNumber": hex(head),
        }


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNode]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeNode()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        fake.thread.join()


def test_the_event_topic_is_the_anchored_signature() -> None:
    topic = "0x" + v.keccak(text="Anchored(uint64,bytes32,uint64)").hex()
    assert topic == v.ANCHORED_TOPIC


def test_an_anchor_found_on_chain_verifies(bundle: Bundle, node: FakeNode) -> None:
    node.answer_for(bundle["anchor"], head=20)
    report = v.verify_bundle(bundle, rpc_url=node.url, min_confirmations=9)
    assert report.ok, report.as_dict()
    assert "9 confirmations" in report.part("anchor").detail
    methods = [method for method, _ in node.calls]
    assert methods == ["eth_chainId", "eth_getTransactionReceipt", "eth_getBlockByNumber",
                       "eth_blockNumber"]
    assert node.calls[1][1] == [bundle["anchor"]["tx_hash"]]
    assert node.calls[2][1] == ["0xc", False]


def _receipt_log(node: FakeNode) -> dict[str, Any]:
    entry: dict[str, Any] = node.results["eth_getTransactionReceipt"]["logs"][1]
    return entry


CHAIN_FAULTS: list[tuple[str, Callable[[FakeNode], None], str]] = [
    ("chain id", lambda n: n.results.update(eth_chainId="0x1"), "chain 1"),
    ("not mined", lambda n: n.results.update(eth_getTransactionReceipt=None), "not mined"),
    ("reverted", lambda n: n.results["eth_getTransactionReceipt"].update(status="0x0"),
     "reverted"),
    ("other block number",
     lambda n: n.results["eth_getTransactionReceipt"].update(blockNumber="0xd"), "block 13"),
    ("other block hash",
     lambda n: n.results["eth_getTransactionReceipt"].update(blockHash="0x" + "11" * 32),
     "the anchor says"),
    ("other contract", lambda n: _receipt_log(n).update(address="0x" + "ac" * 20), "emitted no"),
    ("other batch", lambda n: _receipt_log(n)["topics"].__setitem__(1, "0x" + "00" * 32),
     "emitted no"),
    ("other root", lambda n: _receipt_log(n)["topics"].__setitem__(2, "0x" + "00" * 32),
     "emitted no"),
    ("other size", lambda n: _receipt_log(n).update(data="0x" + "00" * 32), "emitted no"),
    ("other event", lambda n: _receipt_log(n)["topics"].__setitem__(0, "0x" + "00" * 32),
     "emitted no"),
    ("removed log", lambda n: _receipt_log(n).update(removed=True), "emitted no"),
    ("reorged out",
     lambda n: n.results["eth_getBlockByNumber"].update(hash="0x" + "22" * 32), "reorged out"),
    ("block gone", lambda n: n.results.update(eth_getBlockByNumber=None), "reorged out"),
    ("too few confirmations", lambda n: n.results.update(eth_blockNumber="0xc"),
     "1 confirmations"),
    ("rpc error", lambda n: n.errors.update(eth_chainId={"code": -32601, "message": "nope"}),
     "nope"),
    ("not a quantity", lambda n: n.results.update(eth_blockNumber=12), "not a hex quantity"),
]


@pytest.mark.parametrize(("fault", "detail"), [(f, d) for _, f, d in CHAIN_FAULTS],
                         ids=[name for name, _, _ in CHAIN_FAULTS])
def test_an_anchor_the_chain_does_not_hold_fails(
    bundle: Bundle, node: FakeNode, fault: Callable[[FakeNode], None], detail: str,
) -> None:
    node.answer_for(bundle["anchor"], head=12)
    fault(node)
    report = v.verify_bundle(bundle, rpc_url=node.url, min_confirmations=1 if
                             detail != "1 confirmations" else 2)
    assert report.failed == "anchor", report.as_dict()
    assert detail in report.part("anchor").detail


def test_an_unreachable_node_fails_the_anchor(bundle: Bundle, node: FakeNode) -> None:
    url = node.url
    node.server.shutdown()
    node.server.server_close()
    report = v.verify_bundle(bundle, rpc_url=url)
    assert report.failed == "anchor"
    assert report.part("anchor").detail.startswith("eth_chainId:")


def test_only_http_rpc_urls_are_used(bundle: Bundle) -> None:
    report = v.verify_bundle(bundle, rpc_url="file:///etc/passwd")
    assert report.failed == "anchor"
    assert "http(s)" in report.part("anchor").detail
