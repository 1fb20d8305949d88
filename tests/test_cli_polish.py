"""The CLI around the pipeline: init and check, help with examples, progress, the log file."""

from __future__ import annotations

import argparse
import io
import logging

import pytest
from support import recon, recon_run

from recon.cli import build_parser, main
from recon.config import load_config
from recon.logs import configure_logging
from recon.progress import TerminalBar
from reports.charts import amount_bars, auto_rate_chart


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(subcommands(sub, prefix + name + " "))
    return found


def test_every_command_has_help_with_an_example():
    commands = subcommands(build_parser())
    assert {"run", "review", "approve", "reject", "undo", "history", "resume", "init", "check",
            "auth login", "statements", "demo"} <= set(commands)
    for name, parser in commands.items():
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            continue  # a group (`auth`): its actions carry the examples
        assert "example" in (parser.epilog or ""), f"`recon {name} --help` shows no example"


def test_init_writes_a_commented_config_that_loads_and_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "empresa" / "recon.toml"
    assert main(["init", "--config", str(path)]) == 0
    text = path.read_text(encoding="utf-8")
    config = load_config(path, environ={})
    assert config.get("matching.auto_probability") == 0.99  # defaults stay defaults
    assert "# auto_probability = 0.99" in text and "RECON_MATCHING_AUTO_PROBABILITY" in text
    assert 'client_id = ""' in text and "[policy]" in text
    assert "recon auth login" in capsys.readouterr().out
    path.write_text("# mine\n", encoding="utf-8")
    assert main(["init", "--config", str(path)]) == 2
    assert path.read_text(encoding="utf-8") == "# mine\n"


def test_check_says_what_is_ready_and_what_is_not(demo, capsys):
    folder, _ = demo
    assert recon(folder, "check") == 1  # the demo inbox has a corrupt Santander file
    out = capsys.readouterr().out
    assert "ok   Conta Azul: connected to" in out and "ok   accounts:" in out
    assert "ok   client secret" in out and "demo-secret" not in out
    assert "FAIL inbox" in out and "extrato-santander-corrompido.ofx" in out
    (folder / "inbox" / "extrato-santander-corrompido.ofx").unlink()
    assert recon(folder, "check") == 0


def test_check_names_a_missing_secret_and_an_unreachable_conta_azul(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RECON_CONTAAZUL_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("RECON_CONTAAZUL_API_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("RECON_CONTAAZUL_RETRY_ATTEMPTS", "1")
    config = tmp_path / "recon.toml"
    main(["init", "--config", str(config)])
    capsys.readouterr()
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "FAIL client secret: no Conta Azul client secret" in out
    assert "FAIL inbox" in out and "inbox folder not found" in out


def test_the_log_file_keeps_info_even_when_the_console_is_quiet_and_rotates(tmp_path):
    log = tmp_path / "logs" / "recon.log"
    configure_logging(-1, log, max_bytes=400, backups=2)
    try:
        logging.getLogger("recon.test").info("the night's story %d", 1)
        for i in range(40):
            logging.getLogger("recon.test").warning("line %d of a long night", i)
    finally:
        configure_logging(0)  # closes the file
    assert "the night's story 1" in log.read_text(encoding="utf-8") or \
        (tmp_path / "logs" / "recon.log.2").exists()
    assert (tmp_path / "logs" / "recon.log.1").exists()  # rotated by size
    assert not (tmp_path / "logs" / "recon.log.3").exists()  # only `backups` kept


def test_a_run_logs_to_the_configured_file(demo):
    folder, _ = demo
    recon_run(folder, "--quiet")
    text = (folder / "recon.log").read_text(encoding="utf-8")
    assert "INFO" in text and "skipping statement file" in text
    assert "demo-secret" not in text


def test_progress_is_drawn_for_a_terminal_only(demo, capsys):
    folder, _ = demo
    recon_run(folder)
    assert "\r" not in capsys.readouterr().err  # not a terminal (cron, pipes, tests): silent
    stream = io.StringIO()
    bar = TerminalBar(stream, min_interval=0)
    bar.stage("settling", total=4)
    for _ in range(4):
        bar.advance()
    bar.finish()
    drawn = stream.getvalue()
    assert "\rsettling   [" in drawn and "4/4" in drawn and drawn.endswith("\n")
    assert "#" * TerminalBar.WIDTH in drawn


def test_charts_escape_what_they_show():
    svg = amount_bars([{"conta": "<script>x</script>", "cents": 1234, "lines": 1}],
                      lambda c: f"R$ {c}", "t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    from datetime import date
    chart = auto_rate_chart([{"window_to": date(2026, 11, 3), "auto": 3, "lines": 4}],
                            lambda d: d.strftime("%d/%m"), "rate")
    assert "<rect" in chart and "03/11: 75%" in chart


@pytest.mark.parametrize("language", ["pt", "en"])
def test_explanations_speak_the_report_language(language):
    from matchers.explain import explain_decision

    pair = {"probability": 0.9, "amount_level": 0, "amount_diff_cents": 0, "amount_bits": 8.0,
            "lag_days": 2, "date_bits": 1.0, "name_level": 0, "name_sim": 0.98, "name_bits": 9.0,
            "key_level": 4, "key_bits": 0.0}
    text = explain_decision({"reason_code": "ambiguous", "rival_parcela_id": "p2",
                             "margin_bits": 1.5}, pair, rival={"probability": 0.8},
                            language=language)
    expected = {"pt": ("outro candidato é quase tão provável", "valor exato", "2 d depois",
                       "segundo colocado: parcela p2", "margem 1.5 bits"),
                "en": ("another candidate is nearly as likely", "amount exact", "2 d late",
                       "runner-up: parcela p2", "margin 1.5 bits")}[language]
    for phrase in expected:
        assert phrase in text


def test_the_report_labels_explanations_and_config_speak_the_same_languages():
    from matchers.explain import WORDS
    from recon.config import CHOICES
    from reports.labels import LABELS

    assert set(LABELS) == set(WORDS) == set(CHOICES["report.language"])
    assert all(set(LABELS[language]) == set(LABELS["pt"]) for language in LABELS)
