"""The web console (``/console``): server-rendered pages for regulators, operators,
merchants and buyers, in Chinese and English.

It owns no records and no rules. A page asks the exchange's own API, in-process, as the
participant signed in (:mod:`market.console.calls`), and renders the answer, so what a
person can see and do here is exactly what that participant's API key could. Sessions are
the participants context's (an API key exchanged for a server-side session); this package
holds the cookie, the CSRF tokens, the pages and their templates.
"""

from __future__ import annotations

import importlib

from flask import Flask

from market.console.blueprint import bp

# The page modules, each registering its views on the blueprint when imported.
PAGES = ("auth", "regulator", "operator", "merchant", "buyer")


def register(app: Flask) -> None:
    """Serve the console under ``/console``."""
    for name in PAGES:
        importlib.import_module(f"market.console.views.{name}")
    app.register_blueprint(bp)
