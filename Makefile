# Single entry point. The two commands of the README:
#   make book   - build the whole book from the published results
#   make test   - run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MATHJAX_VERSION := 3.2.2
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install data notebooks mathjax html book test bench clean

install: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt -c requirements-lock.txt -e .
	touch $@

data: install
	$(BIN)/taskfp data fetch

# execute every notebook in place with papermill (writes results/ and the executed notebooks)
notebooks: data
	mkdir -p _build
	HF_HUB_OFFLINE=1 $(BIN)/python -m taskfp_lib.book --timing _build/notebook_times.json

# MathJax served by the book itself (offline), from the npm registry
mathjax: book/_static/mathjax/tex-chtml.js
book/_static/mathjax/tex-chtml.js:
	npm install --silent --no-save --no-audit --no-fund --prefix .cache/npm mathjax@$(MATHJAX_VERSION)
	rm -rf book/_static/mathjax
	mkdir -p book/_static
	cp -r .cache/npm/node_modules/mathjax/es5 book/_static/mathjax

# build the HTML from the executed notebooks (execution off)
html: install mathjax
	$(BIN)/jupyter-book build . --config _config.yml --toc book/_toc.yml --warningiserror --keep-going

book: notebooks html
	@echo "book: _build/html/index.html"

test: install mathjax data
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

bench: install data
	$(BIN)/python benchmarks/bench_book.py

clean:
	rm -rf _build
