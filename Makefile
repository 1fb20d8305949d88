# The two commands the README opens with. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test screenshot clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/recon demo --out demo-out

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The README's picture of the demo's report (needs Chromium).
screenshot: demo
	$(BIN)/python -m reports.screenshot demo-out/reports/*/report.html docs/report-demo.png

clean:
	rm -rf $(VENV) demo-out .pytest_cache
