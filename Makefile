# Two commands do all the set-up on a fresh machine:  make demo  and  make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-browser lab clean student

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)  ## pretrain BYOL on the embedded dataset and print the table
	$(PY) -m byol_course demo --out runs/demo

test: $(STAMP)  ## the whole test suite, notebooks included
	BYOL_COURSE_SMOKE=1 $(PY) -m pytest -q tests $(if $(wildcard notebooks/*.ipynb),--nbval-lax notebooks,)

$(VENV)/.installed-browser: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,browser]"
	@touch $@

test-browser: $(VENV)/.installed-browser  ## every notebook in JupyterLab in headless Chromium (apt-get install chromium)
	$(PY) tests/browser/run_in_browser.py

lab: $(STAMP)   ## JupyterLab on the notebooks (the browser test starts it the same way)
	$(PY) scripts/lab.py

# nbgrader lives in its own venv: installing it into .venv would add its JupyterLab extensions to `make lab`
NBGRADER_VENV ?= .venv-nbgrader
$(NBGRADER_VENV)/.installed: scripts/nbgrader-requirements.txt
	@test -x $(NBGRADER_VENV)/bin/python || $(PYTHON) -m venv $(NBGRADER_VENV)
	$(NBGRADER_VENV)/bin/python -m pip install --quiet -r scripts/nbgrader-requirements.txt
	@touch $@

student: $(STAMP) $(NBGRADER_VENV)/.installed  ## build/instructor/ (solutions in place) and build/student/ (nbgrader generate_assignment)
	$(PY) scripts/student_version.py --nbgrader $(NBGRADER_VENV)/bin/nbgrader --out build notebooks/*.ipynb

clean:
	rm -rf runs .pytest_cache build

# --- benchmarks, not part of `make test`: the peers go into benchmarks/.venv, never into .venv ---
.PHONY: bench
benchmarks/.venv/.installed: $(STAMP) benchmarks/requirements.txt benchmarks/make_env.sh
	COURSE_PY=$(PY) bash benchmarks/make_env.sh

bench: benchmarks/.venv/.installed  ## one BYOL step, images/s: byol_course vs lightly vs byol-pytorch (benchmarks/RESULTS.md)
	benchmarks/.venv/bin/python benchmarks/bench_step.py --peers all --json benchmarks/results/step_cpu.json
