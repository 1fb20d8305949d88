import os
from pathlib import Path

import pytest

from recon.config import SETTINGS, load_config, read_secret_file
from recon.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_then_file_then_environment(tmp_path):
    path = write(tmp_path, '[store]\npath = "from-file.duckdb"\n[matching]\nauto_probability = 0.95\n')
    config = load_config(path, environ={"RECON_STORE": "/tmp/from-env.duckdb"})
    assert config.get("store.path") == "/tmp/from-env.duckdb"
    assert config.get("matching.auto_probability") == 0.95
    assert config.get("matching.review_probability") == 0.3


def test_relative_paths_are_taken_from_the_config_folder(tmp_path):
    config = load_config(write(tmp_path, '[statements]\ninbox = "in"\n'), environ={})
    assert config.path("statements.inbox") == tmp_path.resolve() / "in"


def test_every_setting_has_an_environment_variable_named_after_it():
    names = [s.env for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(name.startswith("RECON_") for name in names)
    assert "RECON_CONTAAZUL_API_URL" in names and "RECON_STORE" in names


def test_environment_value_of_the_wrong_type_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="RECON_MATCHING_AUTO_PROBABILITY"):
        load_config(None, environ={"RECON_MATCHING_AUTO_PROBABILITY": "high"})


def test_unknown_key_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="matching.auto_treshold"):
        load_config(write(tmp_path, "[matching]\nauto_treshold = 0.9\n"), environ={})


def test_client_secret_in_the_config_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="must not be written"):
        load_config(write(tmp_path, '[contaazul]\nclient_secret = "s3cr3t"\n'), environ={})


def test_client_secret_from_environment_is_not_in_the_repr(tmp_path):
    config = load_config(None, environ={"RECON_CONTAAZUL_CLIENT_SECRET": "s3cr3t-value"})
    assert config.client_secret() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(config)


def test_secret_file_readable_by_others_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("abc")
    os.chmod(secret, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_secret_file(secret)
    os.chmod(secret, 0o600)
    assert read_secret_file(secret) == "abc"


def test_accounts_mapping_requires_a_conta(tmp_path):
    with pytest.raises(ConfigError, match="conta_financeira_id"):
        load_config(write(tmp_path, '[[accounts]]\nfiles = "x*.ofx"\n'), environ={})
    config = load_config(
        write(tmp_path, '[[accounts]]\nfiles = "x*.ofx"\nconta_financeira_id = "abc"\n'), environ={})
    assert config.accounts[0].conta_financeira_id == "abc"


def test_the_readme_lists_every_setting_as_the_code_declares_it():
    from pathlib import Path

    from recon.config import settings_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "regenerate README's table with recon.config.settings_table()"


def test_the_store_opens_with_the_configured_memory_limit_and_names_a_bad_one(tmp_path):
    from recon.errors import StoreError
    from recon.lock import locked_store

    path = write(tmp_path, '[store]\npath = "co.duckdb"\nmemory_limit = "256MB"\n')
    with locked_store(load_config(path, environ={}), "recon test") as store:
        limit = store.query("SELECT current_setting('memory_limit') AS m")[0]["m"]
    assert limit == "244.1 MiB"  # DuckDB reports 256 MB in MiB
    bad = load_config(path, environ={"RECON_STORE_MEMORY_LIMIT": "plenty"})
    with pytest.raises(StoreError, match=r"store.memory_limit 'plenty'.*like 1GB"), \
            locked_store(bad, "recon test"):
        pass


def test_a_query_past_the_memory_limit_says_which_setting_to_raise(tmp_path):
    from recon.errors import StoreError
    from recon.store import Store

    with Store(tmp_path / "small.duckdb", "16MB") as store, \
            pytest.raises(StoreError, match=r"store.memory_limit allows \(16MB\): raise it"):
        store.query("SELECT len(list(i)) AS n FROM range(20000000) t(i)")
