# Two commands do all the set-up on a fresh machine:  make demo  and  make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
GRADING_VENV ?= .venv-grading
SITE_VENV    ?= .venv-site

.PHONY: demo test test-browser lab clean student classroom otter zh test-zh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)  ## pretrain BYOL on the embedded dataset and print the table
	$(PY) -m byol_course demo --out runs/demo

test: $(STAMP) $(GRADING_VENV)/.installed $(SITE_VENV)/.installed  ## the whole test suite: notebooks, the graders end to end, the website
	BYOL_COURSE_SMOKE=1 BYOL_COURSE_REQUIRE_GRADERS=1 BYOL_COURSE_GRADERS=$(abspath $(GRADING_VENV))/bin \
		$(PY) -m pytest -q tests $(if $(wildcard notebooks/*.ipynb),--nbval-lax notebooks/*.ipynb $(ZH_IN_TEST),)

# The Chinese edition: notebooks/zh/ generated from the English notebooks and translations/zh/notebooks/*.json.
ZH_IN_TEST := $(wildcard notebooks/zh/04_*.ipynb)  # one Chinese chapter runs in `make test`; all of them in `make test-zh`
zh: $(STAMP)  ## regenerate notebooks/zh/ (the Chinese notebooks) from the English ones and the translation catalogues
	$(PY) -m translations.notebooks build

test-zh: $(STAMP)  ## every Chinese notebook under nbval, smoke mode
	BYOL_COURSE_SMOKE=1 $(PY) -m pytest -q -p no:cacheprovider --nbval-lax notebooks/zh/*.ipynb

$(VENV)/.installed-browser: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,browser]"
	@touch $@

test-browser: $(VENV)/.installed-browser  ## every notebook in JupyterLab in headless Chromium (apt-get install chromium)
	$(PY) tests/browser/run_in_browser.py

lab: $(STAMP)   ## JupyterLab on the notebooks (the browser test starts it the same way)
	$(PY) scripts/lab.py

# The graders (nbgrader, otter-grader) live in their own venv: installed into .venv, nbgrader's JupyterLab
# extensions would change `make lab`. They are installed with .venv's versions as constraints, and a .pth file
# lets the grading venv (and the kernels it starts) import the course venv's packages: torch, byol_course.
$(GRADING_VENV)/.installed: classroom/grading-requirements.txt $(STAMP)
	@test -x $(GRADING_VENV)/bin/python || $(PYTHON) -m venv $(GRADING_VENV)
	$(PY) -m pip freeze --exclude-editable > $(GRADING_VENV)/constraints.txt
	$(GRADING_VENV)/bin/python -m pip install --quiet -c $(GRADING_VENV)/constraints.txt -r classroom/grading-requirements.txt
	$(PY) -c 'import site; print(f"import site; site.addsitedir({site.getsitepackages()[0]!r})")' \
		> "$$($(GRADING_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/zz_byol_course_venv.pth"
	@touch $@

student: $(STAMP) $(GRADING_VENV)/.installed  ## build/instructor/ (solutions in place) and build/student/ (nbgrader generate_assignment)
	$(PY) -m classroom.student_version --nbgrader $(GRADING_VENV)/bin/nbgrader --out build notebooks/*.ipynb

classroom: $(STAMP) $(GRADING_VENV)/.installed  ## build/classroom/: an nbgrader course, one graded assignment per week (docs/teaching.md)
	$(PY) -m classroom.nbgrader_course --out build/classroom --nbgrader $(GRADING_VENV)/bin/nbgrader

otter: $(STAMP) $(GRADING_VENV)/.installed  ## build/otter/: otter-grader assignments and autograder zips (Colab + Gradescope)
	$(PY) -m classroom.otter_course --out build/otter --otter $(GRADING_VENV)/bin/otter

clean:
	rm -rf runs .pytest_cache build

# --- benchmarks, not part of `make test`: the peers go into benchmarks/.venv, never into .venv ---
.PHONY: bench
benchmarks/.venv/.installed: $(STAMP) benchmarks/requirements.txt benchmarks/make_env.sh
	COURSE_PY=$(PY) bash benchmarks/make_env.sh

bench: benchmarks/.venv/.installed  ## one BYOL step, images/s: byol_course vs lightly vs byol-pytorch (benchmarks/RESULTS.md)
	benchmarks/.venv/bin/python benchmarks/bench_step.py --peers all --json benchmarks/results/step_cpu.json

# --- the GPU check (benchmarks/gpu_check.sh): one command for a bare device machine --------------------
# gpu-prepare: the wheels it carries (.whl/, Python 3.12) and the CIFAR-10 zips (.cifar10/), needs PyPI;
# gpu-rehearsal: the same command here, on the CPU with tiny sizes, in a torch-only environment;
# gpu-check: the command itself (on the device: bash benchmarks/gpu_check.sh --out $$OUT/gpu_check.json).
.PHONY: gpu-prepare gpu-rehearsal gpu-check
GPU_OUT ?= benchmarks/results/gpu_check.json

gpu-prepare: $(STAMP)  ## fetch the device's wheels and copy the CIFAR-10 zips; print what travels and the run call
	$(PY) benchmarks/gpu_prepare.py

.whl/MANIFEST.json: benchmarks/gpu_wheels.txt | $(STAMP)
	$(PY) benchmarks/gpu_prepare.py

gpu-rehearsal: $(STAMP) .whl/MANIFEST.json  ## the device command on the CPU, tiny sizes, only torch + torchvision + .whl/
	COURSE_PY=$(PY) bash benchmarks/gpu_rehearsal.sh

gpu-check:  ## the device command (needs a CUDA GPU; python3 = the machine's own)
	bash benchmarks/gpu_check.sh --out $(GPU_OUT)

# --- the course as a website (docs/site.md): Sphinx + MyST-NB in their own venv, never in .venv -------
# make site: build/site/, the chapters executed in classroom mode through jupyter-cache (a rebuild re-runs
# only chapters whose code, or package code they import, changed); make site-smoke: build/site-smoke/,
# smoke mode, what tests/test_site.py builds and checks in headless Chromium during `make test`.
.PHONY: site site-smoke site-venv site-check site-screenshots
$(SITE_VENV)/.installed: site/requirements.txt
	@test -x $(SITE_VENV)/bin/python || $(PYTHON) -m venv $(SITE_VENV)
	$(SITE_VENV)/bin/python -m pip install --quiet -r site/requirements.txt
	@touch $@

site-venv: $(SITE_VENV)/.installed  ## the website's tools in .venv-site (the site tests of `make test` need it)

site: $(STAMP) $(SITE_VENV)/.installed  ## the website in build/site/, chapters executed in classroom mode (cached)
	$(SITE_VENV)/bin/python site/build.py --python $(PY)

site-smoke: $(STAMP) $(SITE_VENV)/.installed  ## the website in smoke mode, build/site-smoke/ (what `make test` checks)
	$(SITE_VENV)/bin/python site/build.py --smoke --python $(PY)

site-check: $(SITE_VENV)/.installed  ## every page of build/site/ in headless Chromium: images, links, search, offline
	$(SITE_VENV)/bin/python tests/browser/check_site.py build/site

SHOTS ?= runs/site-screenshots
site-screenshots: $(SITE_VENV)/.installed  ## screenshots of build/site/'s front page and chapter 3 into $(SHOTS)/
	$(SITE_VENV)/bin/python scripts/site_screenshots.py $(SHOTS)
