# semipoison: every target installs what it needs first (make setup is idempotent).
SHELL := /bin/bash
export NODE_OPTIONS ?= --max-old-space-size=8192

.PHONY: setup demo demo-quick test lint bench fixtures

setup:
	@scripts/setup.sh

demo: setup
	./bin/semipoison.js demo

demo-quick: setup
	./bin/semipoison.js demo --quick

test: setup
	npx vitest run

lint: setup
	npm run lint

bench: setup
	@scripts/setup.sh python3-torch python3-sklearn python3-pil
	npx tsx bench/engine.ts
	npx tsx bench/trainers.ts
	npx tsx bench/defense.ts

# Reference values for the tests, computed once with Debian's PyTorch and committed.
fixtures:
	@scripts/setup.sh python3-torch
	/usr/bin/python3 scripts/make_fixtures.py
