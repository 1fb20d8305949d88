"""notebooks/match_quality.ipynb, executed on the demo's store after a real run and a review
verdict: every cell runs, and the tables it promises are there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import recon, recon_run

from recon.store import Store

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "match_quality.ipynb"


def cell_text(nb, tag: str) -> str:
    """Everything a tagged cell printed or displayed (plain text and HTML)."""
    [cell] = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.extend(output.data.get(kind, "") for kind in ("text/plain", "text/html"))
    return "\n".join(parts)


def html_rows(nb, tag: str) -> list[int]:
    """Body rows of each HTML table a tagged cell displayed."""
    [cell] = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return [output.data["text/html"].split("<tbody>", 1)[1].count("<tr")
            for output in cell.outputs if "text/html" in output.get("data", {})]


def test_the_committed_notebook_has_no_outputs():
    document = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4))
    code = [c for c in document["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    [parameters] = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert parameters is code[0] and "RECON_STORE" in "".join(parameters["source"])


def test_match_quality_notebook_runs_on_the_demo_store(demo, monkeypatch, capsys):
    folder, _ = demo
    assert recon_run(folder) == 3
    with Store(folder / "recon.duckdb") as store:
        items = [r["item_id"] for r in store.query(
            "SELECT item_id FROM review_items WHERE status = 'pending' ORDER BY item_id")]
    assert len(items) == 2
    assert recon(folder, "approve", str(items[0]), "--by", "marta") == 0
    assert recon(folder, "reject", str(items[1]), "--by", "joao") == 0
    capsys.readouterr()

    monkeypatch.setenv("RECON_STORE", str(folder / "recon.duckdb"))
    monkeypatch.setenv("RECON_CONFIG", str(folder / "recon.toml"))
    monkeypatch.delenv("RECON_RUN_ID", raising=False)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's migration warning
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()  # raises CellExecutionError on the first cell that fails

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors == []

    assert "thresholds (" in cell_text(nb, "setup") and "auto_probability 0.99" in cell_text(
        nb, "setup")
    counts = cell_text(nb, "decision-counts")
    assert "auto" in counts and "review" in counts and "below_auto" in counts
    assert "lines by decision: auto 9, review 2, unmatched 3" in counts
    assert "R$ " in counts  # amounts in reais, from centavos

    for tag in ("probability", "margins", "signals"):
        [cell] = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), tag

    review = cell_text(nb, "review-outcomes")
    assert "approved" in review and "rejected" in review
    assert "marta" in review and "joao" in review and "approval_rate" in review
    assert "note:" not in review

    whatif = cell_text(nb, "whatif")
    assert "what-if: 12 threshold combinations over 10 auto/review decisions" in whatif
    assert html_rows(nb, "whatif") == [12]

    assert "annotated" in cell_text(nb, "ledger")
