# The two commands of the README. Both set up a fresh Debian 12 machine first
# (Debian packages, npm ci, which builds BPF objects, the addon and TypeScript).
CONF ?= conf/ebpf-forward.conf

.PHONY: setup run test bench

setup:
	bash scripts/setup.sh

run: setup
	node dist/cli.js -c $(CONF)

test: setup
	bash scripts/test.sh

bench: setup
	node bench/run.mjs
