"""Development tooling shipped with market: a local Stripe-compatible server for the tests
and ``market demo --rail stripe``. Only the command line, the demo and the tests use it
(an import-linter contract)."""
