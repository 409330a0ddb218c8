# The two commands of the README. Both set up a fresh Debian 12 machine first
# (Debian packages, npm ci, which builds BPF objects, the addon and TypeScript).
CONF ?= conf/ebpf-forward.conf

.PHONY: setup run test bench

setup:
	bash scripts/setup.sh

# dist/cli.js itself, as the installed bin runs: with the node flags of its first line.
run: setup
	./dist/cli.js -c $(CONF)

test: setup
	bash scripts/test.sh

bench: setup
	node bench/run.mjs
