"""The console's authorization matrix covers every console page.

Each audience's page tests (``tests/console/test_*_pages.py``) hold a ``MATRIX``: for each
console route (method, rule), what each kind of caller gets, written by hand from the
product rules, and run there against own and foreign objects. This test checks that
together they name every console route exactly once, and that every page declares who it
is for.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from flask import Flask

import tests.console
from market.console.blueprint import OPEN_ENDPOINTS, roles_of

IMPLICIT = {"HEAD", "OPTIONS"}


def _matrices() -> dict[str, dict[tuple[str, str], Any]]:
    found = {}
    for info in pkgutil.iter_modules(tests.console.__path__):
        if info.name.startswith("test_") and info.name.endswith("_pages"):
            module = importlib.import_module(f"tests.console.{info.name}")
            found[info.name] = module.MATRIX
    return found


def test_every_console_route_is_in_exactly_one_matrix(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in OPEN_ENDPOINTS:
            continue
        for method in sorted((rule.methods or set()) - IMPLICIT):
            routes.add((method, rule.rule))
    owners: dict[tuple[str, str], list[str]] = {}
    for name, matrix in _matrices().items():
        for key in matrix:
            owners.setdefault(key, []).append(name)
    missing = routes - set(owners)
    stale = set(owners) - routes
    doubled = {key: names for key, names in owners.items() if len(names) > 1}
    assert not missing, f"console routes missing from the matrices: {sorted(missing)}"
    assert not stale, f"matrix rows for console routes that do not exist: {sorted(stale)}"
    assert not doubled, f"console routes in more than one matrix: {doubled}"


def test_every_console_page_declares_who_it_is_for(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in OPEN_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        assert hasattr(view, "_console_roles"), f"{rule.endpoint} is not declared with @page"
        roles = roles_of(view)
        assert roles is None or roles, rule.endpoint
