"""Business dates in America/Sao_Paulo."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def today_sao_paulo(now: datetime | None = None) -> date:
    """Today's business date in São Paulo (the server may run in UTC)."""
    moment = now or datetime.now(tz=SAO_PAULO)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(SAO_PAULO).date()


def yesterday_sao_paulo(now: datetime | None = None) -> date:
    return today_sao_paulo(now) - timedelta(days=1)


def parse_api_date(value: str | None) -> date | None:
    """Conta Azul dates: ISO `YYYY-MM-DD` (spec), `DD/MM/YYYY` seen in examples, "" as null."""
    if value is None or value == "":
        return None
    text = value.strip()
    if "/" in text:
        day, month, year = text.split("/")
        return date(int(year), int(month), int(day))
    return date.fromisoformat(text[:10])


def parse_api_datetime(value: str | None) -> datetime | None:
    """Date-times without a zone are São Paulo time; any fraction length is accepted."""
    if value is None or value == "":
        return None
    text = value.strip().replace("Z", "+00:00")
    head, _, frac_and_zone = text.partition(".")
    if frac_and_zone:
        digits = ""
        rest = ""
        for i, ch in enumerate(frac_and_zone):
            if not ch.isdigit():
                rest = frac_and_zone[i:]
                break
            digits += ch
        text = f"{head}.{(digits + '000000')[:6]}{rest}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SAO_PAULO)
    return moment.astimezone(SAO_PAULO)
