# `make run`: the main job. `make test`: the tests. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test clean

# ExecuTorch declares coremltools, scikit-learn, hydra and test tools it does not need to export or
# run: it goes in without them, what it does need is in pyproject.toml's dependencies
EXECUTORCH := executorch==1.5.1

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps '$(EXECUTORCH)'
	touch $(STAMP)

install: $(STAMP)

# the main job: Table 3 on LiteRT and ONNX Runtime, Figure 1's published points and Table 5 on LiteRT,
# one pinned core (exports included, in parallel), then the report in reports/latest and Table 3 printed
run: $(STAMP)
	$(BIN)/mbv3bench run --paper

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) reports/*.sqlite reports/artifacts
