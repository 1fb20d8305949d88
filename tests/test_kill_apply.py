"""Crash test: `recon run` killed with SIGKILL at random points of its apply phase, many times.

The stand-in runs in this process (threads), so it outlives every kill; recon runs as a child
process on a plan of a few hundred settlements, with 10% of the baixa POSTs stored and then
answered 504. Each round starts a fresh `recon run` of the same window and kills it once it
has sent a random number of baixas (plus, half the time, a few random milliseconds), which
lands the kill anywhere: before a POST reached the server, while its answer is on the way,
between the answer and the ledger's update, inside the PATCH of the nota, inside a DuckDB
write. Then recon runs to the end without kills, and once more.

Afterwards every planned parcela has exactly one baixa from recon, nothing else in Conta Azul
changed, and the ledger holds one settled row per planned parcela.

The seed comes from RECON_KILL_TEST_SEED (default below); every assertion message names it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from recon.contaazul.scenario import build_scenario, write_scenario
from recon.contaazul.standin import Faults, StandIn
from recon.records import LEDGER_SETTLED, LEDGER_UNRESOLVED
from recon.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("RECON_KILL_TEST_SEED", "20261102"))
PARCELAS, PAID = 450, 250
ROUNDS = 10  # rounds that end in a kill, at most (a round that finishes first ends them)
MAX_POSTS_BEFORE_KILL = 40
ROUND_TIMEOUT = 60.0  # seconds; a child still alive after this is a hang, not a slow machine
TAG = "recon:"
TOKEN_KEYS = ("access_tokens", "refresh_tokens", "rotated_refresh_tokens")

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")


@dataclass
class Round:
    number: int
    posts_wanted: int
    extra_delay: float
    posts_at_kill: int | None = None  # None: the run finished before the kill
    exit_code: int | None = None
    in_doubt: int = 0  # parcelas whose baixa landed while the ledger did not say settled
    ledger: dict[str, int] | None = None
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.posts_at_kill is None:
            return (f"round {self.number}: finished before {self.posts_wanted} POSTs "
                    f"(exit {self.exit_code}, {self.seconds:.1f} s)")
        return (f"round {self.number}: killed after {self.posts_at_kill} baixa POSTs, "
                f"{self.seconds:.1f} s in (wanted {self.posts_wanted} + "
                f"{self.extra_delay * 1000:.0f} ms); "
                f"landed but not settled in the ledger: {self.in_doubt}; ledger {self.ledger}")


def is_baixa_post(entry) -> bool:
    return entry.method == "POST" and entry.path.endswith("/baixa")


def is_api_write(entry) -> bool:
    return entry.method in ("POST", "PATCH", "DELETE", "PUT") and entry.path.startswith("/v1/")


def recon_baixas(parcela: dict) -> list[dict]:
    return [b for b in parcela.get("baixas", [])
            if (b.get("observacao") or "").startswith(TAG) or (b.get("nsu") or "").startswith(TAG)]


def wait_quiet(server: StandIn, quiet: float = 0.15, limit: float = 5.0) -> None:
    """Until the server has journaled nothing new for `quiet` seconds: a request the dead
    child had already sent is applied (or not) before the next run looks."""
    deadline = time.monotonic() + limit
    seen = len(server.journal)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = len(server.journal)
        if now == seen:
            return
        seen = now


def ledger_rows(folder: Path) -> list[dict]:
    """The settlements table, read-only, between rounds (the killed child holds no lock)."""
    path = folder / "recon.duckdb"
    if not path.exists():
        return []
    con = duckdb.connect(str(path), read_only=True)
    try:
        if not con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'settlements'").fetchone()[0]:
            return []
        cursor = con.execute("SELECT parcela_id, line_key, state, tag, baixa_id FROM settlements")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


@pytest.fixture
def company(tmp_path):
    scenario = build_scenario(parcelas=PARCELAS, paid=PAID, seed=SEED)
    # Long-lived access tokens: the first run refreshes once and stores the token, later runs
    # reuse it from the token file. The kills are aimed at the apply phase, not at refreshes.
    scenario.state["access_token_ttl_seconds"] = 3600
    write_scenario(tmp_path, scenario)
    faults = Faults(ambiguous_write_rate=0.10, read_error_rate=0.02, seed=SEED)
    with StandIn(state=scenario.state, faults=faults) as server:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env.update({
            "RECON_CONTAAZUL_API_URL": server.api_url,
            "RECON_CONTAAZUL_TOKEN_URL": server.token_url,
            "RECON_CONTAAZUL_REQUESTS_PER_SECOND": "200",
            "RECON_CONTAAZUL_REQUESTS_PER_MINUTE": "100000",
            "RECON_CONTAAZUL_RETRY_BACKOFF_SECONDS": "0.02",
            "RECON_CONTAAZUL_RETRY_MAX_DELAY_SECONDS": "1.0",
        })
        yield tmp_path, server, scenario, env


class Child:
    """One `recon run` of the scenario's window, output to files so no pipe ever fills."""

    def __init__(self, folder: Path, scenario, env: dict, name: str):
        start, end = scenario.window
        self.log_path = folder / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "recon", "run", "--config", str(folder / "recon.toml"),
                 "--from", start.isoformat(), "--to", end.isoformat()],
                env=env, cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def tail(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


def run_to_end(folder: Path, scenario, env: dict, name: str, context: str) -> int:
    child = Child(folder, scenario, env, name)
    try:
        code = child.process.wait(timeout=ROUND_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail(f"{context}: `recon run` still running after {ROUND_TIMEOUT} s\n{child.tail()}")
    assert code in (0, 3), f"{context}: `recon run` exited {code}\n{child.tail()}"
    return code


def kill_round(folder: Path, server: StandIn, scenario, env: dict, rnd: Round) -> None:
    """Start a run; SIGKILL it once it has sent `posts_wanted` baixas (+ `extra_delay`)."""
    context = f"seed {SEED}, round {rnd.number}"
    seen_from = len(server.journal)
    posts = 0
    started = time.monotonic()
    child = Child(folder, scenario, env, f"round-{rnd.number:02d}")
    deadline = time.monotonic() + ROUND_TIMEOUT
    try:
        while posts < rnd.posts_wanted:
            if child.process.poll() is not None:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{context}: no kill point after {ROUND_TIMEOUT} s\n{child.tail()}")
            journal_end = len(server.journal)
            posts += sum(map(is_baixa_post, server.journal[seen_from:journal_end]))
            seen_from = journal_end
            if posts < rnd.posts_wanted:
                time.sleep(0.002)
        else:
            if rnd.extra_delay:
                time.sleep(rnd.extra_delay)
            if child.process.poll() is None:
                os.kill(child.process.pid, signal.SIGKILL)
                child.process.wait()
                rnd.posts_at_kill = posts + sum(map(is_baixa_post, server.journal[seen_from:]))
    finally:
        child.kill()  # never leave a child behind, whatever failed above
    rnd.exit_code = child.process.returncode
    rnd.seconds = time.monotonic() - started
    if rnd.posts_at_kill is None:
        assert rnd.exit_code in (0, 3), (
            f"{context}: a run that was not killed exited {rnd.exit_code}\n{child.tail()}")
    else:
        assert rnd.exit_code == -signal.SIGKILL, f"{context}: exit {rnd.exit_code}"


def test_sigkill_anywhere_in_apply_then_reruns_settle_every_parcela_exactly_once(company):
    folder, server, scenario, env = company
    rng = random.Random(SEED)
    before = server.snapshot()
    paid = set(scenario.paid)
    rounds: list[Round] = []

    for number in range(1, ROUNDS + 1):
        extra = 0.0 if rng.random() < 0.5 else rng.uniform(0.0, 0.06)
        rnd = Round(number, rng.randint(1, MAX_POSTS_BEFORE_KILL), extra)
        rounds.append(rnd)
        kill_round(folder, server, scenario, env, rnd)
        wait_quiet(server)
        if rnd.posts_at_kill is None:
            print(rnd)
            break  # nothing left to interrupt
        rows = ledger_rows(folder)
        settled = {r["parcela_id"] for r in rows if r["state"] in LEDGER_SETTLED}
        rnd.ledger = dict(Counter(r["state"] for r in rows))
        rnd.in_doubt = sum(1 for p in server.snapshot()["parcelas"]
                           if recon_baixas(p) and p["id"] not in settled)
        print(rnd)

    history = "\n".join(map(str, rounds))
    context = f"seed {SEED}\n{history}"
    killed = [r for r in rounds if r.posts_at_kill is not None]
    assert len(killed) >= 6, f"too few kills landed in the apply phase\n{context}"
    # Some kill fell between a baixa landing and the ledger saying so: the case that matters.
    assert sum(r.in_doubt for r in killed) >= 1, f"no kill left a baixa in doubt\n{context}"

    run_to_end(folder, scenario, env, "final-1", f"{context}\nfinal run")
    wait_quiet(server)
    writes_from = len(server.journal)
    run_to_end(folder, scenario, env, "final-2", f"{context}\nsecond final run")
    again = [f"{e.method} {e.path}" for e in server.journal[writes_from:] if is_api_write(e)]
    assert not again, f"the run after convergence wrote again: {again[:5]}\n{context}"

    after = server.snapshot()
    stats = server.stats.as_dict()
    # The hostile parts really happened.
    assert stats["ambiguous_writes"] >= 1, f"no ambiguous write happened\n{context}\n{stats}"
    assert stats["invalid_grants"] == 0, f"recon lost its refresh token\n{context}\n{stats}"
    assert not [e for e in server.journal if e.method == "DELETE"], f"a DELETE was sent\n{context}"

    # Conta Azul: exactly one baixa from recon per planned parcela, and nowhere else.
    parcelas = {p["id"]: p for p in after["parcelas"]}
    counts = {pid: len(recon_baixas(p)) for pid, p in parcelas.items()}
    wrong = {pid: n for pid, n in counts.items() if n != (1 if pid in paid else 0)}
    assert not wrong, (f"parcela -> recon baixas, where not exactly one per planned parcela: "
                       f"{wrong}\n{context}")
    assert sum(counts.values()) == len(paid), context
    for pid in paid:
        parcela = parcelas[pid]
        (baixa,) = parcela["baixas"]  # the scenario's parcelas start with none
        assert baixa["composicao_valor"]["valor_bruto"] == scenario.paid[pid], (pid, context)
        notes = [line for line in parcela["nota"].splitlines() if line.startswith("[recon]")]
        assert len(notes) == 1, f"parcela {pid} nota: {parcela['nota']!r}\n{context}"

    # Nothing else was touched: other parcelas (versao, nota, baixas, status, ...) and the rest.
    untouched = {p["id"]: p for p in before["parcelas"] if p["id"] not in paid}
    changed = [pid for pid, p in untouched.items() if parcelas[pid] != p]
    assert not changed, f"parcelas outside the plan changed: {changed[:5]}\n{context}"
    for key in before.keys() - {"parcelas", *TOKEN_KEYS}:
        assert after[key] == before[key], f"stand-in state {key!r} changed\n{context}"

    # The ledger agrees: one settled row per planned parcela, naming the baixa that exists.
    with Store(folder / "recon.duckdb") as store:
        rows = store.query("SELECT parcela_id, line_key, state, tag, baixa_id FROM settlements")
    settled_rows = [r for r in rows if r["state"] in LEDGER_SETTLED]
    per_parcela = Counter(r["parcela_id"] for r in settled_rows)
    assert set(per_parcela) == paid and set(per_parcela.values()) == {1}, (
        f"settled ledger rows per parcela: {dict(per_parcela.most_common(5))}, "
        f"missing {sorted(paid - set(per_parcela))[:5]}\n{context}")
    open_rows = [r for r in rows if r["state"] in LEDGER_UNRESOLVED]
    assert not open_rows, f"ledger rows left unresolved: {open_rows[:5]}\n{context}"
    for row in settled_rows:
        (baixa,) = recon_baixas(parcelas[row["parcela_id"]])
        assert row["baixa_id"] == baixa["id"] and baixa["nsu"] == row["tag"], (row, context)

    print(f"seed {SEED}: {len(killed)} kills, POSTs at kill "
          f"{[r.posts_at_kill for r in killed]}, baixas in doubt after kills "
          f"{[r.in_doubt for r in killed]}, stats {stats}")
