"""``market-client``: the exchange from a shell. ``--json`` prints JSON for scripts (a list
as ``{"items", "next_cursor"}``), otherwise aligned tables for people. Exit status 0 on
success, 1 when the exchange refuses or a check fails (the problem on stderr, or as
``{"error": …}`` with ``--json``), 2 on a usage error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

from market_client import _output as show
from market_client.client import VERSION, Client
from market_client.errors import ClientError, MarketError
from market_client.webhooks import verify_signature

ORDER_COLUMNS: list[show.Column] = [
    ("id", "id"), ("status", "status"), ("amount", lambda o: show.money(o.get("amount"),
                                                                       o.get("currency"))),
    ("buyer", "buyer_org_id"), ("seller", "seller_org_id"), ("product", "product_id"),
    ("created", "created_at")]
CATALOG_COLUMNS: list[show.Column] = [
    ("product", "product_id"), ("title", "title"), ("type", "type"), ("sector", "sector"),
    ("region", "region"),
    ("from", lambda i: "free" if i.get("has_free") else show.money(i.get("min_price"),
                                                                   i.get("currency"))),
    ("listed", "listed_at")]
FILING_COLUMNS: list[show.Column] = [
    ("number", "number"), ("kind", "kind"), ("order", "order_id"), ("sector", "sector"),
    ("amount", lambda f: show.money(f.get("amount"), f.get("currency"))),
    ("seller", "seller_org_id"), ("buyer", "buyer_org_id"), ("concluded", "concluded_at")]
FILING_FILTERS = ("concluded_from", "concluded_to", "party", "product", "sector", "kind",
                  "currency", "min_amount", "max_amount")


class Failed(Exception):
    """A check the command made does not hold (exit status 1)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="market-client", description="Use a market data exchange from the shell.")
    parser.add_argument("--base-url", default=None,
                        help="the exchange, e.g. http://127.0.0.1:5000 (default $MARKET_URL)")
    parser.add_argument("--api-key", default=None, help="API key (default $MARKET_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--language", default=None, help="Accept-Language, e.g. zh-CN")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bar on standard error for downloads and exports")
    parser.add_argument("--retries", type=int, default=4, help="retries (default 4)")
    parser.add_argument("--version", action="version", version=f"market-client {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("me", help="who the API key belongs to")

    catalog = commands.add_parser("catalog", help="search the catalogue").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    search = catalog.add_parser("search", help="search listed products")
    search.add_argument("q", nargs="?", help="words, Chinese or English")
    for name in ("type", "sector", "region", "delivery-mode", "merchant", "sort"):
        search.add_argument(f"--{name}")
    search.add_argument("--free-only", action="store_true", default=None)
    _paging(search)
    catalog.add_parser("show", help="one product in full").add_argument("product_id")

    orders = commands.add_parser("orders", help="orders").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listing = orders.add_parser("list", help="your orders")
    listing.add_argument("--status")
    listing.add_argument("--role", choices=("buyer", "seller"))
    listing.add_argument("--product")
    _paging(listing)
    orders.add_parser("show", help="one order").add_argument("order_id")
    place = orders.add_parser("place", help="order an offer (the buyer)")
    place.add_argument("--product", required=True)
    place.add_argument("--offer", required=True)
    place.add_argument("--commitment", required=True,
                       help="the purchase commitment, a JSON file ('-' reads stdin)")
    place.add_argument("--idempotency-key")
    pay = orders.add_parser("pay", help="pay into escrow (the buyer)")
    pay.add_argument("order_id")
    pay.add_argument("--idempotency-key")
    accept = orders.add_parser("accept", help="accept the delivery (the buyer)")
    accept.add_argument("order_id")
    accept.add_argument("--sha256", help="the delivered file's SHA-256, to confirm it")
    accept.add_argument("--idempotency-key")
    fetch = orders.add_parser("download", help="download the delivered file (the buyer)")
    fetch.add_argument("order_id")
    fetch.add_argument("-o", "--output", required=True, help="where to write it")

    filings = commands.add_parser("filings", help="filings (登记备案)").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    listed = filings.add_parser("list", help="filings you may see")
    _filing_filters(listed)
    _paging(listed)
    export = filings.add_parser("export", help="export filings to a file (regulators)")
    _filing_filters(export)
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("-o", "--output", required=True)

    download = commands.add_parser("download", help="download a link, resumed and checked")
    download.add_argument("url", help="a download link's url (/api/v1/downloads/…)")
    download.add_argument("-o", "--output", required=True)
    download.add_argument("--sha256", help="the SHA-256 the file must have")

    receipt = commands.add_parser("receipt", help="receipts (数据存证)").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    receipt.add_parser("show", help="one receipt").add_argument("receipt_id")
    verify = receipt.add_parser("verify", help="verify a receipt's proof bundle")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("receipt_id", nargs="?", help="fetch the bundle of this receipt")
    source.add_argument("--file", help="a proof bundle saved as JSON ('-' reads stdin)")
    verify.add_argument("--signer", help="the platform key to trust (address or SM2 key)")
    verify.add_argument("--server", action="store_true",
                        help="ask the exchange to check it instead of checking it here")

    webhook = commands.add_parser("webhook", help="webhook deliveries").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    check = webhook.add_parser("verify", help="check a delivery's Market-Signature")
    check.add_argument("body", help="the raw request body, a file ('-' reads stdin)")
    check.add_argument("--header", required=True, help="the Market-Signature header value")
    check.add_argument("--secret", required=True, help="the endpoint's signing secret")
    check.add_argument("--tolerance", type=int, default=300)
    check.add_argument("--now", type=float, help=argparse.SUPPRESS)
    return parser


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50, help="items per page (default 50)")
    parser.add_argument("--cursor", help="the page after this cursor")
    parser.add_argument("--all", action="store_true", help="every page")


def _filing_filters(parser: argparse.ArgumentParser) -> None:
    for name in FILING_FILTERS:
        kind = int if name.endswith("amount") else str
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind)


# -- commands ---------------------------------------------------------------------------


class Run:
    """One command's run: the client, the arguments, and where it prints."""

    def __init__(self, client: Client, args: argparse.Namespace, out: TextIO) -> None:
        self.client, self.args, self.out = client, args, out

    def print(self, value: Any, fields: Sequence[show.Column] | None = None) -> None:
        if self.args.json:
            show.dump(value, self.out)
        else:
            show.record(value, self.out, fields)

    def page(self, first: Callable[..., Mapping[str, Any]], every: Callable[[], Iterator[Any]],
             columns: Sequence[show.Column]) -> None:
        """A list: one page (``--limit``, ``--cursor``), or every page with ``--all``."""
        if self.args.all:
            items, cursor = list(every()), None
        else:
            found = first(limit=self.args.limit, cursor=self.args.cursor)
            items, cursor = list(found["items"]), found.get("next_cursor")
        if self.args.json:
            show.dump({"items": items, "next_cursor": cursor}, self.out)
            return
        show.table(items, columns, self.out)
        if cursor:
            self.out.write(f"(more: --cursor {cursor})\n")

    def me(self) -> None:
        self.print(self.client.participants.me())

    def catalog_search(self) -> None:
        a = self.args
        filters = {"type": a.type, "sector": a.sector, "region": a.region,
                   "delivery_mode": a.delivery_mode, "merchant": a.merchant, "sort": a.sort,
                   "free_only": a.free_only}
        self.page(lambda **p: self.client.catalog.search(a.q, **filters, **p),
                  lambda: self.client.catalog.iter(a.q, **filters), CATALOG_COLUMNS)

    def catalog_show(self) -> None:
        self.print(self.client.catalog.product(self.args.product_id))

    def orders_list(self) -> None:
        a = self.args
        filters = {"status": a.status, "role": a.role, "product": a.product}
        self.page(lambda **p: self.client.orders.list(**filters, **p),
                  lambda: self.client.orders.iter(**filters), ORDER_COLUMNS)

    def _order(self, order: Mapping[str, Any]) -> None:
        self.print(order, None if self.args.json else [*ORDER_COLUMNS, (
            "deliveries", lambda o: [f"{d.get('mode')} {d.get('sha256') or ''}".strip()
                                     for d in o.get("deliveries", [])])])

    def orders_show(self) -> None:
        self._order(self.client.orders.get(self.args.order_id))

    def orders_place(self) -> None:
        a = self.args
        commitment = json.loads(_read(a.commitment))
        self._order(self.client.orders.place(a.product, a.offer, commitment,
                                             idempotency_key=a.idempotency_key))

    def orders_pay(self) -> None:
        self._order(self.client.orders.pay(self.args.order_id,
                                           idempotency_key=self.args.idempotency_key))

    def orders_accept(self) -> None:
        a = self.args
        self._order(self.client.orders.accept(a.order_id, sha256=a.sha256,
                                              idempotency_key=a.idempotency_key))

    def bar(self, label: str) -> show.Bar:
        return show.Bar(label, sys.stderr, quiet=self.args.quiet)

    def orders_download(self) -> None:
        bar = self.bar("download")
        try:
            done = self.client.orders.download(self.args.order_id, self.args.output,
                                               progress=bar)
        finally:
            bar.close()
        self._downloaded(done.path, done.size, done.sha256, done.resumed_from)

    def download(self) -> None:
        bar = self.bar("download")
        try:
            done = self.client.download(self.args.url, self.args.output,
                                        expected_sha256=self.args.sha256, progress=bar)
        finally:
            bar.close()
        self._downloaded(done.path, done.size, done.sha256, done.resumed_from)

    def _downloaded(self, path: Path, size: int, sha256: str, resumed_from: int) -> None:
        self.print({"path": str(path), "size": size, "sha256": sha256,
                    "resumed_from": resumed_from})

    def filings_list(self) -> None:
        filters = {name: getattr(self.args, name) for name in FILING_FILTERS}
        self.page(lambda **p: self.client.filings.list(**filters, **p),
                  lambda: self.client.filings.iter(**filters), FILING_COLUMNS)

    def filings_export(self) -> None:
        filters = {name: getattr(self.args, name) for name in FILING_FILTERS}
        bar = self.bar("export")
        try:
            saved = self.client.regulator.export_filings(
                self.args.output, format=self.args.format, progress=bar, **filters)
        finally:
            bar.close()
        self.print({"path": str(saved.path), "size": saved.size,
                    "media_type": saved.media_type})

    def receipt_show(self) -> None:
        self.print(self.client.receipts.get(self.args.receipt_id))

    def receipt_verify(self) -> None:
        a = self.args
        bundle = (json.loads(_read(a.file)) if a.file
                  else self.client.receipts.proof(a.receipt_id))
        found: dict[str, Any]
        if a.server:
            found = dict(self.client.receipts.verify(bundle, signer=a.signer))
        else:
            report = self.client.receipts.verify_locally(bundle, trusted_signer=a.signer)
            found = {"ok": report.ok, "status": report.status, "failed": report.failed,
                     "parts": [{"name": p.name, "ok": p.ok, "detail": p.detail}
                               for p in report.parts]}
        if a.json:
            show.dump(found, self.out)
        else:
            self.out.write(f"{found['status']}\n")
            show.table(found["parts"], [("part", "name"), ("ok", "ok"),
                                        ("detail", "detail")], self.out)
        if not found["ok"]:
            raise Failed(f"the bundle does not verify: {found['failed']} fails")

    def webhook_verify(self) -> None:
        a = self.args
        body = _read_bytes(a.body)
        ok = verify_signature(body, a.header, a.secret, tolerance=a.tolerance, now=a.now)
        if a.json:
            show.dump({"ok": ok}, self.out)
        else:
            self.out.write("valid\n" if ok else "invalid\n")
        if not ok:
            raise Failed("the signature does not hold")


def _read_bytes(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def _read(name: str) -> str:
    return _read_bytes(name).decode("utf-8")


NEEDS_NO_EXCHANGE = {"webhook"}


def main(argv: Sequence[str] | None = None, *, transport: httpx.BaseTransport | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the exit status. ``transport`` and ``env`` let a program
    (or a test) run it against an exchange in-process."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    environ = os.environ if env is None else env
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    base_url = args.base_url or environ.get("MARKET_URL")
    if not base_url and args.command not in NEEDS_NO_EXCHANGE:
        err.write("market-client: error: give --base-url or set MARKET_URL\n")
        return 2
    sub = getattr(args, "action", None)
    action = f"{args.command}_{sub}" if sub else str(args.command)
    client = Client(base_url or "http://localhost", args.api_key or environ.get(
        "MARKET_API_KEY"), transport=transport, retries=args.retries, language=args.language)
    try:
        with client:
            getattr(Run(client, args, out), action)()
    except MarketError as exc:
        if args.json:
            show.dump({"error": exc.problem | {"request_id": exc.request_id}}, out)
        err.write(f"market-client: {exc}\n")
        return 1
    except Failed as exc:  # the verdict was printed; say why on stderr
        err.write(f"market-client: {exc}\n")
        return 1
    except (ClientError, OSError, ValueError) as exc:
        if args.json:
            show.dump({"error": {"detail": str(exc)}}, out)
        err.write(f"market-client: {exc}\n")
        return 1
    return 0


def run() -> None:
    """The console script."""
    sys.exit(main())
