"""Synthetic companies for the stand-in: many parcelas, and a statement paying some of them.

Used by the chaos tests and the pull/settle benchmark. Deterministic for a
seed. Every paid parcela has a distinct contact name that the bank memo
carries and an exact amount, so each is a clear automatic match and the
expected outcome (one baixa per paid parcela) is known in advance.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from recon.contaazul.tokens import TokenFile, Tokens

FIRST = ("ANA", "BRUNO", "CARLA", "DANIEL", "EDUARDA", "FABIO", "GABRIELA", "HEITOR", "ISABELA",
         "JOAO", "KARINA", "LUCAS", "MARINA", "NATAN", "OLIVIA", "PEDRO", "RAFAELA", "SERGIO",
         "TATIANA", "VITOR")
LAST = ("ALMEIDA", "BARBOSA", "CARDOSO", "DIAS", "ESTEVES", "FONSECA", "GUIMARAES", "HOLANDA",
        "IZIDORO", "JARDIM", "KLEIN", "LOBATO", "MACEDO", "NOGUEIRA", "OLIVEIRA", "PACHECO",
        "QUEIROZ", "RIBEIRO", "SALGADO", "TEIXEIRA")
CONTA_ID = "00000000-0000-4000-8000-00000000c0a1"
BANK, BRANCH, ACCOUNT = "341", "1234", "567890"


@dataclass(frozen=True)
class Scenario:
    state: dict
    ofx: bytes
    window: tuple[date, date]
    paid: dict[str, Decimal]  # parcela id -> amount the statement pays


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _contacts(rng: random.Random, count: int) -> list[dict]:
    names = [f"{f} {m} {s}" for f in FIRST for m in LAST for s in LAST if m != s]
    rng.shuffle(names)
    return [{"id": _uid(rng), "nome": names[i].title(), "documento": f"{rng.randrange(10**10, 10**11)}",
             "tipo_pessoa": "Física", "perfis": ["Cliente"], "ativo": True, "email": ""}
            for i in range(count)]


def _parcela(rng: random.Random, index: int, contact: dict, due: date, cents: int) -> dict:
    return {"id": _uid(rng), "evento_id": _uid(rng), "tipo": "RECEITA",
            "descricao": f"Mensalidade {index}", "data_vencimento": due.isoformat(),
            "data_competencia": due.replace(day=1).isoformat(), "valor": Decimal(cents) / 100,
            "contato_id": contact["id"], "versao": 1, "nota": "", "status": "PENDENTE",
            "data_alteracao": "2026-10-01T08:00:00.1", "baixas": [], "conciliado": False,
            "categorias": [{"id": CONTA_ID, "nome": "Vendas"}]}


def build_scenario(parcelas: int, paid: int, *, seed: int = 7, contacts: int | None = None,
                   window_start: date = date(2026, 11, 2), window_days: int = 5) -> Scenario:
    """`parcelas` receivables due around the window; the statement pays `paid` of them."""
    rng = random.Random(seed)
    # Paid parcelas get contacts of their own so the name tells them apart; amounts are distinct.
    people = _contacts(rng, paid + (contacts or max(1, (parcelas - paid) // 10)))
    amounts = rng.sample(range(5_000, 2_000_000), parcelas)
    rows = []
    for i in range(parcelas):
        if i < paid:
            contact = people[i]
            due = window_start + timedelta(days=rng.randrange(0, window_days))
        else:
            contact = people[rng.randrange(paid, len(people))]
            due = window_start + timedelta(days=rng.randrange(-50, window_days + 8))
        rows.append(_parcela(rng, i, contact, due, amounts[i]))
    window = (window_start, window_start + timedelta(days=window_days - 1))
    state = {"today": (window[1] + timedelta(days=1)).isoformat(),
             "clients": {"demo-client": "demo-secret"}, "refresh_tokens": ["rt-0"],
             "access_tokens": {}, "access_token_ttl_seconds": 3600,
             "contas_financeiras": [{"id": CONTA_ID, "nome": "Itaú PJ", "banco": "ITAU",
                                     "codigo_banco": int(BANK), "agencia": BRANCH,
                                     "numero": ACCOUNT, "tipo": "CONTA_CORRENTE", "ativo": True}],
             "pessoas": people, "parcelas": rows}
    paid_rows = rows[:paid]
    names = {p["id"]: p["nome"] for p in people}
    ofx = statement_ofx([(_paid_on(rng, date.fromisoformat(r["data_vencimento"]), window[1]),
                          r["valor"], f"PIX RECEBIDO - {names[r['contato_id']].upper()}")
                         for r in paid_rows], window)
    return Scenario(state=state, ofx=ofx, window=window,
                    paid={r["id"]: r["valor"] for r in paid_rows})


def _paid_on(rng: random.Random, due: date, last_day: date) -> date:
    """On the due date or a day after, but inside the statement's period."""
    return min(due + timedelta(days=rng.randrange(0, 2)), last_day)


def statement_ofx(lines: list[tuple[date, Decimal, str]], window: tuple[date, date]) -> bytes:
    """An Itaú-style OFX (SGML, unclosed tags) with one credit per line."""
    transactions = "".join(
        f"<STMTTRN>\n<TRNTYPE>CREDIT\n<DTPOSTED>{day:%Y%m%d}100000[-03:EST]\n<TRNAMT>{amount:.2f}\n"
        f"<FITID>{day:%Y%m%d}{n:05d}\n<MEMO>{memo}\n</STMTTRN>\n"
        for n, (day, amount, memo) in enumerate(lines))
    text = (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
        "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX>\n<BANKMSGSRSV1>\n<STMTTRNRS>\n"
        f"<STMTRS>\n<CURDEF>BRL\n<BANKACCTFROM>\n<BANKID>{BANK}\n<BRANCHID>{BRANCH}\n"
        f"<ACCTID>{ACCOUNT}\n<ACCTTYPE>CHECKING\n</BANKACCTFROM>\n<BANKTRANLIST>\n"
        f"<DTSTART>{window[0]:%Y%m%d}\n<DTEND>{window[1]:%Y%m%d}\n{transactions}</BANKTRANLIST>\n"
        "</STMTRS>\n</STMTTRNRS>\n</BANKMSGSRSV1>\n</OFX>\n")
    return text.encode("cp1252")


def write_scenario(folder: Path, scenario: Scenario) -> Path:
    """A company folder like the demo's: config, inbox, 0600 secret and token; returns the state path."""
    from recon.contaazul.standin import render_state
    from recon.demo import write_private

    (folder / "inbox").mkdir(parents=True, exist_ok=True)
    (folder / "inbox" / "itau-scenario.ofx").write_bytes(scenario.ofx)
    (folder / "recon.toml").write_text(SCENARIO_CONFIG, encoding="utf-8")
    write_private(folder / "client_secret", scenario.state["clients"]["demo-client"])
    TokenFile(folder / "tokens.json").write(Tokens(refresh_token=scenario.state["refresh_tokens"][0]))
    state_path = folder / "contaazul_state.json"
    state_path.write_text(render_state(scenario.state), encoding="utf-8")
    return state_path


SCENARIO_CONFIG = """\
[contaazul]
client_id = "demo-client"
client_secret_file = "client_secret"
token_file = "tokens.json"

[statements]
inbox = "inbox"
"""
