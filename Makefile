# Single entry point. The two commands of the README:
#   make book    - build the whole book from the published results (nothing tracked is modified)
#   make test    - run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MATHJAX_VERSION := 3.2.2
SITE := _build/site
export NO_ALBUMENTATIONS_UPDATE := 1
export HF_HUB_OFFLINE := 1

.PHONY: install data notebooks refresh-notebooks mathjax browser html book test bench clean

# pip compiles every installed module to bytecode one file after the other (about 50 s of the install here, most of
# it torch's and ray's thousands of files); instead the install skips that and compileall does it on every core.
# Like pip, it leaves as source the few files that do not compile on this Python (a test helper in Python 3.12 syntax).
install: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --no-compile -r requirements.txt -c requirements-lock.txt -e .
	$(BIN)/python -c "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"
	touch $@

data: install
	$(BIN)/taskfp data fetch

# execute every notebook of the declared plan (taskfp_lib/paper/plan.py) into _build/: executed pages
# in $(SITE)/notebooks, results files in $(SITE)/book/_static/results (the committed notebooks/ and results/
# are the reference outputs the tests compare against; `make refresh-notebooks` rewrites them).
# Independent notebooks run side by side, JOBS at once (default: one per core), each kernel with one
# BLAS/torch thread; a notebook that reads others' results waits for them.
JOBS ?=
PLAN_JOBS := $(if $(JOBS),--jobs $(JOBS),)
notebooks: data
	$(BIN)/python -m taskfp_lib.paper.plan $(PLAN_JOBS) --output $(SITE)/notebooks \
		--results $(SITE)/book/_static/results --timing _build/notebook_times.json

refresh-notebooks: data
	$(BIN)/python -m taskfp_lib.paper.plan $(PLAN_JOBS) --output notebooks

# MathJax served by the book itself (offline), from the npm registry
mathjax: book/_static/mathjax/tex-chtml.js
book/_static/mathjax/tex-chtml.js:
	npm install --silent --no-save --no-audit --no-fund --prefix .cache/npm mathjax@$(MATHJAX_VERSION)
	rm -rf book/_static/mathjax
	mkdir -p book/_static
	cp -r .cache/npm/node_modules/mathjax/es5 book/_static/mathjax

# build the HTML (execution off) from a staged copy in $(SITE): the book sources, the executed notebooks (the
# committed ones where `make notebooks` has not run) and the results files (taskfp_lib/paper/site.py)
html: install mathjax
	$(BIN)/python -m taskfp_lib.paper.site $(SITE) --html _build/html

book: notebooks html
	@echo "book: _build/html/index.html"

# Chromium and its driver for the rendered-book tests (tests/test_book_html.py), from Debian's packages when
# missing and running as root; otherwise a message saying what to install
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver (Debian packages) for the book tests"; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; \
	else \
		echo "make test: the book tests need Chromium and ChromeDriver; install them first:" \
			"sudo apt-get install chromium chromium-driver" >&2; exit 1; \
	fi

test: install mathjax data browser
	$(BIN)/python -m pytest

bench: install data
	$(BIN)/python benchmarks/bench_book.py

clean:
	rm -rf _build
