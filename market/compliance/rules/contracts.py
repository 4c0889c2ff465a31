"""Signed contracts (电子合同) and vouched declarations."""

from __future__ import annotations
