# Flink State Lab. The two commands that matter on a fresh machine:
#   make lab     set everything up, start the cluster, open JupyterLab on the tour
#   make test    set everything up and run the whole test suite (what CI runs)
SHELL := /bin/bash
VENV  := .venv/bin
SIZE  ?= ci

.PHONY: setup browser lab lab-headless regress lint test nbval test-fast bench student down down-all status clean

setup:
	@bash scripts/setup.sh

# Chromium + ChromeDriver for the real-browser test (Debian packages; only the tests need them).
browser:
	@bash scripts/setup-browser.sh

# The lab named by LABKIT_LAB (default "default") at LABKIT_PORT_OFFSET; JupyterLab on 8888 + the
# offset, quiet, under one banner with the link that opens the tour (scripts/lab.sh).
lab: setup
	@bash scripts/lab.sh

# The tour executed headless: runs/00_lab_tour.ipynb, runs/00_lab_tour.json and the sampled metrics.
lab-headless: setup
	@$(VENV)/labkit up
	@$(VENV)/labkit run 00 --size $(SIZE) --out runs

# Each chapter executes once (tests/test_notebooks.py), with its exercise checks, its measured
# claims and where its student copy stops; the slowest tests are listed at the end.
test: setup browser lint
	LABKIT_HEADLESS=1 $(VENV)/python -m pytest -v --durations=40 tests

# ruff over the package, tests, bench and scripts (settings in pyproject.toml), and the chapters'
# code cells as `labkit sync` writes them.
lint: setup
	$(VENV)/ruff check labkit tests bench scripts
	$(VENV)/labkit sync --check

# The chapters as nbval runs them (lax: committed notebooks have no outputs to compare), at CI
# size in a lab of their own. Not part of `make test`, which already runs every chapter once.
NBVAL_LAB := LABKIT_LAB=nbval LABKIT_PORT_OFFSET=400
nbval: setup
	$(NBVAL_LAB) LABKIT_HEADLESS=1 LABKIT_SIZE=ci $(VENV)/python -m pytest -v -p no:cacheprovider \
		--nbval-lax --nbval-cell-timeout=300 notebooks; \
	status=$$?; $(NBVAL_LAB) $(VENV)/labkit down; exit $$status

# Every chapter headless (SIZE=ci by default, SIZE=learner for the full run): runs/report.md
regress: setup
	$(VENV)/labkit up
	$(VENV)/labkit regress --size $(SIZE) --out runs

# Without the cluster: generators, parsing, notebooks' hygiene.
test-fast: setup lint
	$(VENV)/python -m pytest -v -m "not cluster" tests

# Student versions of every chapter: solutions replaced by placeholders, checks kept, no outputs.
student: setup
	$(VENV)/labkit student --out student

bench: setup
	$(VENV)/python bench/run.py --size $(if $(filter tiny,$(SIZE)),tiny,full)

# Stops the lab named by LABKIT_LAB (default "default"): `LABKIT_LAB=alice make down`.
down:
	@$(VENV)/labkit down

# Stops every lab on this machine (the end of a class).
down-all:
	@$(VENV)/labkit down --all

status:
	@$(VENV)/labkit status

# Stops the current lab (as `make down`) and deletes what runs, tests and `make student` wrote here.
clean: down
	@rm -rf runs student .pytest_cache
