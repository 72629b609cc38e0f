"""`patron checkout quote --file basket.json` prints the quote."""

from __future__ import annotations

import json
from pathlib import Path

from patron.checkout.models import CheckoutQuote
from patron.core import db
from tests.cli.test_cli import cli_database, invoke
from tests.factories import make_store

__all__ = ["cli_database"]


def test_quote_a_basket_from_a_file(cli_database: str, tmp_path: Path) -> None:
    invoke("db", "upgrade")
    with db.transaction() as session:
        store_id = make_store(session).id
    basket = tmp_path / "basket.json"
    lines = [{"sku": "SKU-1", "quantity": 3, "unit_price": 1250}]
    basket.write_text(json.dumps({"store_id": store_id, "channel": "pos", "lines": lines}))
    printed = json.loads(invoke("checkout", "quote", "--file", str(basket)))
    assert (printed["total"], printed["amount_due"]) == (3750, 3750)
    with db.transaction() as session:
        assert session.get(CheckoutQuote, printed["quote_id"]) is not None
