import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from recon.dates import SAO_PAULO, parse_api_date, parse_api_datetime, yesterday_sao_paulo
from recon.money import dumps_json, format_brl, from_cents, to_cents


@pytest.mark.parametrize(
    ("text", "cents"),
    [("1500.00", 150000), ("0.07", 7), ("-560.5", -56050), ("12", 1200), ("-0", 0)],
)
def test_to_cents_is_exact(text, cents):
    assert to_cents(text) == cents
    assert from_cents(cents) == Decimal(text).quantize(Decimal("0.01"))


def test_to_cents_refuses_fractions_of_a_centavo_and_garbage():
    with pytest.raises(ValueError):
        to_cents("1.005")
    with pytest.raises(ValueError):
        to_cents("   .  ")


@pytest.mark.parametrize(("cents", "text"), [(123456, "R$ 1.234,56"), (-5, "-R$ 0,05"),
                                               (100000000, "R$ 1.000.000,00")])
def test_format_brl(cents, text):
    assert format_brl(cents) == text


def test_dumps_json_writes_decimals_as_exact_numbers():
    text = dumps_json({"valor_bruto": Decimal("2340.50"), "lista": [Decimal("-0.10")], "s": "a\"b"})
    assert '"valor_bruto": 2340.50' in text
    assert json.loads(text, parse_float=Decimal) == {
        "valor_bruto": Decimal("2340.50"), "lista": [Decimal("-0.10")], "s": 'a"b'}


def test_api_dates_in_every_shape_seen():
    assert parse_api_date("2026-11-03") == date(2026, 11, 3)
    assert parse_api_date("01/01/2030") == date(2030, 1, 1)
    assert parse_api_date("") is None and parse_api_date(None) is None


def test_api_datetimes_without_zone_are_sao_paulo_and_any_fraction_length():
    moment = parse_api_datetime("2024-11-08T10:22:47.97218")
    assert moment.tzinfo is not None
    assert moment.utcoffset().total_seconds() == -3 * 3600
    assert (moment.hour, moment.microsecond) == (10, 972180)
    assert parse_api_datetime("2024-11-08T13:22:47Z").hour == 10


def test_yesterday_is_taken_in_sao_paulo_not_utc():
    # 01:30 UTC on the 2nd is still 22:30 of the 1st in São Paulo.
    now = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
    assert yesterday_sao_paulo(now) == date(2026, 10, 31)
    assert now.astimezone(SAO_PAULO).date() == date(2026, 11, 1)
