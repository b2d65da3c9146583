# MiniGPT Lab. On a fresh machine with Python 3.11 (3.10-3.12 work):
#   make demo   create .venv if missing, install, run the main job
#   make test   the whole test suite, in the same environment
#   make test-fast  the quick tier (about 2 minutes): no lessons, no speedrun, no msrun
#   make lab    JupyterLab on the student release (assignments/); make lab-instructor on notebooks/
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# MindSpore logs a flood of warnings unless told otherwise; --verbose brings them back.
export GLOG_v ?= 3

.PHONY: demo test test-fast lab lab-instructor bench clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 12) else f"MiniGPT Lab needs Python 3.10, 3.11 or 3.12 (MindSpore 2.10 has wheels only for those), but $(PYTHON) is {v[0]}.{v[1]}: run make PYTHON=python3.11 ...")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m minigpt.kernels
	touch $@

demo: $(INSTALLED)
	$(PY) -m minigpt speedrun

# The browser tests' extra (Playwright); they skip, saying so, where Chromium is missing.
$(VENV)/.browser: $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[browser]'
	touch $@

test: $(VENV)/.browser
	$(PY) -m pytest

test-fast: $(INSTALLED)
	$(PY) -m pytest tests -m "not slow" -n 2

lab: $(INSTALLED)
	$(VENV)/bin/jupyter lab assignments/

lab-instructor: $(INSTALLED)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(INSTALLED)
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/generate_speed.py
	$(PY) benchmarks/grade_speed.py

clean:
	rm -rf $(VENV) runs rank_* kernel_meta minigpt/_build
