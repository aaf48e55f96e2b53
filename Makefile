# Two commands do all the set-up on a fresh machine:  make demo  and  make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lab clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)  ## pretrain BYOL on the embedded dataset and print the table
	$(PY) -m byol_course demo --out runs/demo

test: $(STAMP)  ## the whole test suite, notebooks included
	BYOL_COURSE_SMOKE=1 $(PY) -m pytest -q tests $(if $(wildcard notebooks/*.ipynb),--nbval-lax notebooks,)

lab: $(STAMP)   ## JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

clean:
	rm -rf runs .pytest_cache

# --- benchmarks, not part of `make test`: the peers go into benchmarks/.venv, never into .venv ---
.PHONY: bench
benchmarks/.venv/.installed: $(STAMP) benchmarks/requirements.txt benchmarks/make_env.sh
	COURSE_PY=$(PY) bash benchmarks/make_env.sh

bench: benchmarks/.venv/.installed  ## one BYOL step, images/s: byol_course vs lightly vs byol-pytorch (benchmarks/RESULTS.md)
	benchmarks/.venv/bin/python benchmarks/bench_step.py --peers all --json benchmarks/results/step_cpu.json
