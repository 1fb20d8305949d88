"""OFX ingest speed: parse_ofx (fast reader) on a large Itaú-like file, ofxparse on a slice.

Generates an SGML, cp1252, Itaú-shaped statement (unclosed tags, `<ACCTID>…<ACCTTYPE>` on
one line, DTPOSTED `…100000[-03:EST]`, FITID = CHECKNUM = date + sequence, fixed-width
memos with accents, a SALDO FINAL pseudo-line) in a temporary directory, then times

- parse_ofx on the whole file (default 200,000 statement lines), best of 3;
- parse_ofx_reference (ofxparse) on a slice of it (default 10,000 lines), best of 3,

on one core (os.sched_setaffinity where available). "Lines" are statement lines (STMTTRN
blocks), the unit the target is set in: 20,000 lines/s for parse_ofx. Run:

    .venv/bin/python benchmarks/ofx_ingest.py [--lines 200000] [--reference-lines 10000]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from recon.records import StatementFile
from recon.sources.ofx import parse_ofx, parse_ofx_reference

HEADER = ("OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\n"
          "CHARSET:1252\r\nCOMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n")
PREAMBLE = ("<OFX>\r\n<SIGNONMSGSRSV1>\r\n<SONRS>\r\n<STATUS>\r\n<CODE>0\r\n<SEVERITY>INFO\r\n"
            "</STATUS>\r\n<DTSERVER>20250105100000[-03:EST]\r\n<LANGUAGE>POR\r\n</SONRS>\r\n"
            "</SIGNONMSGSRSV1>\r\n<BANKMSGSRSV1>\r\n<STMTTRNRS>\r\n<TRNUID>1001\r\n<STATUS>\r\n"
            "<CODE>0\r\n<SEVERITY>INFO\r\n</STATUS>\r\n<STMTRS>\r\n<CURDEF>BRL\r\n<BANKACCTFROM>\r\n"
            "<BANKID>0341\r\n<ACCTID>123456<ACCTTYPE>CHECKING\r\n</BANKACCTFROM>\r\n<BANKTRANLIST>\r\n")
NAMES = ["JOÃO DA SILVA", "MARIA CONCEIÇÃO", "ANTÔNIO PEREIRA", "JOSÉ LUÍS", "ANA CAROLINA",
         "FRANCISCO ASSIS", "LÚCIA HELENA", "PAULO CÉSAR", "CLIENTE31", "DESTINATARIO A"]
STORES = ["PADARIA PÃO QUENTE", "POSTO IPIRANGA", "SUPERMERCADO DIA", "FARMÁCIA SÃO JOÃO",
          "LOJAS AMERICANAS", "C&A MODAS"]


def memo_and_amount(rng: random.Random, day: date) -> tuple[str, int]:
    """One Itaú-looking movement: memo (as the bank pads it) and signed centavos."""
    ddmm = day.strftime("%d/%m")
    kind = rng.randrange(10)
    if kind < 3:
        return f"PIX TRANSF  {rng.choice(NAMES)[:14]}{ddmm}", -rng.randint(500, 300_000)
    if kind < 5:
        return f"PIX RECEB   {rng.choice(NAMES)[:14]}{ddmm}", rng.randint(500, 900_000)
    if kind == 5:
        return f"SISPAG  {rng.choice(NAMES)[:16]}", rng.randint(10_000, 2_000_000)
    if kind == 6:
        return f"MOBILEPAG TIT BANCO {rng.choice(['237', '260', '341', '033'])}", \
            -rng.randint(1_000, 700_000)
    if kind == 7:
        return f"RSHOP-{rng.choice(STORES)[:12]}-{ddmm}", -rng.randint(300, 60_000)
    if kind == 8:
        return f"DA  LIGHT {rng.randint(10**9, 10**10 - 1)}", -rng.randint(5_000, 90_000)
    return rng.choice(["TAR PACOTE ITAU", "REND PAGO APLIC AUT MAIS", "IOF"]), \
        rng.choice([-1, 1]) * rng.randint(1, 9_000)


def statement_bytes(lines: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    first = date(2024, 1, 2)
    per_day = max(1, lines // 365)
    parts = [HEADER, PREAMBLE, f"<DTSTART>{first:%Y%m%d}100000[-03:EST]\r\n"]
    balance = 0
    for index in range(lines - 1):
        day = first + timedelta(days=index // per_day)
        memo, cents = memo_and_amount(rng, day)
        balance += cents
        parts.append(_stmttrn(day, index % per_day + 1, cents, memo))
    parts.append(_stmttrn(day, per_day + 1, balance, "SALDO FINAL", "DEBIT"))
    parts.append(f"<DTEND>{day:%Y%m%d}100000[-03:EST]\r\n</BANKTRANLIST>\r\n<LEDGERBAL>\r\n"
                 f"<BALAMT>{balance / 100:.2f}\r\n<DTASOF>{day:%Y%m%d}100000[-03:EST]\r\n"
                 "</LEDGERBAL>\r\n</STMTRS>\r\n</STMTTRNRS>\r\n</BANKMSGSRSV1>\r\n</OFX>\r\n")
    return "".join(parts).encode("cp1252")


def _stmttrn(day: date, sequence: int, cents: int, memo: str, kind: str = "") -> str:
    fitid = f"{day:%Y%m%d}{sequence:04d}"
    reais, centavos = divmod(abs(cents), 100)
    amount = f"{'-' if cents < 0 else ''}{reais}.{centavos:02d}"
    return (f"<STMTTRN>\r\n<TRNTYPE>{kind or ('DEBIT' if cents < 0 else 'CREDIT')}\r\n"
            f"<DTPOSTED>{day:%Y%m%d}100000[-03:EST]\r\n<TRNAMT>{amount}\r\n<FITID>{fitid}\r\n"
            f"<CHECKNUM>{fitid}\r\n<MEMO>{memo.ljust(25)}\r\n</STMTTRN>\r\n")


class _Paths(logging.Handler):
    """Remembers which reader parse_ofx says it used."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def best_of(repeat: int, parse: Callable[[bytes, str], StatementFile], path: Path
            ) -> tuple[float, StatementFile]:
    times, result = [], None
    for _ in range(repeat):
        result = None  # so the peak RSS is one parse's, not two
        began = time.perf_counter()
        result = parse(path.read_bytes(), path.name)
        times.append(time.perf_counter() - began)
    assert result is not None
    return min(times), result


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]
        model = names[0] if names else model
    return f"{platform.node()}, {model}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--reference-lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        os.sched_setaffinity(0, {0})  # one core, whatever else the machine is doing
    paths = _Paths()
    logging.getLogger("recon.sources.ofx").addHandler(paths)
    logging.getLogger("recon.sources.ofx").setLevel(logging.DEBUG)
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "itau_big.ofx", Path(tmp) / "itau_slice.ofx"
        big.write_bytes(statement_bytes(args.lines))
        small.write_bytes(statement_bytes(args.reference_lines))
        fast_s, fast = best_of(args.repeat, parse_ofx, big)
        rss_fast = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fast_path = "fast reader" if any("fast reader" in m for m in paths.messages) else "ofxparse"
        ref_s, ref = best_of(args.repeat, parse_ofx_reference, small)
        same = parse_ofx(small.read_bytes(), small.name) == ref
        size_mb = big.stat().st_size / 1e6
        text_lines = big.read_bytes().count(b"\n")
    print(f"machine: {machine()}; pinned to one core: {pinned}")
    print(f"python: {platform.python_version()} ({platform.python_implementation()}); "
          f"date: {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"file: {args.lines} statement lines ({text_lines} text lines, {size_mb:.1f} MB, cp1252)")
    print(f"parse_ofx ({fast_path}): {len(fast.lines)} lines kept, {len(fast.dropped)} dropped; "
          f"best of {args.repeat}: {fast_s:.2f} s = {len(fast.lines) / fast_s:,.0f} lines/s "
          f"(target 20,000)")
    print(f"parse_ofx_reference (ofxparse): {len(ref.lines)} lines; best of {args.repeat}: "
          f"{ref_s:.2f} s = {len(ref.lines) / ref_s:,.0f} lines/s; same result as parse_ofx "
          f"on that slice: {same}")
    print(f"peak RSS: {rss_fast / 1024:.0f} MB after the parse_ofx runs, "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB at the end")


if __name__ == "__main__":
    sys.exit(main())
