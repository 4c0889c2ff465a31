"""Public-data authorised operation (公共数据授权运营): who may offer public data, and on
what terms."""

from __future__ import annotations
