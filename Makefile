# The two commands of the README. Both set up the virtual environment first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint browser

demo: $(STAMP)
	$(VENV)/bin/disaster demo

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

# The dashboard's MapLibre comes from the npm registry, exactly as its lockfile says.
DASHBOARD := disaster/static/dashboard

$(STAMP): pyproject.toml $(DASHBOARD)/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==25.3
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	npm ci --prefix $(DASHBOARD) --no-audit --no-fund --loglevel=error
	touch $(STAMP)

# The resident page is tested in Debian's Chromium (driven by Playwright); install it when the
# machine can, else those tests skip and say so.
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
		(apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && \
		  apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1))) || \
		echo "chromium not installed: the resident page's browser tests will be skipped"
