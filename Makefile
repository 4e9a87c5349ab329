# msx: make help lists the targets.
GO      ?= go
PKGS    := ./...
DATA    ?= ./msx-data

.PHONY: help build run test test-short test-faults test-adversary check bench tidy

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/msx and bin/msx-agent (the target agent alone, for SQL Server hosts)
	$(GO) build -o bin/msx ./cmd/msx
	$(GO) build -o bin/msx-agent ./cmd/msx-agent

run: ## run the whole system: msx up (embedded NATS, a master, 3 targets) in ./msx-data
	$(GO) run ./cmd/msx up --data $(DATA)

test: ## run every test with the race detector (what CI runs)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

test-faults: ## fault-injection suite: kill -9, partitions, duplicates, cluster node loss, full disk, garbage
	$(GO) test -tags faults -race -count=1 -timeout 20m ./cmd/msx/internal/faults/

test-adversary: ## adversary suite: probes from an anonymous client and an enlisted target (files tagged adversary, tests named TestAdversary*)
	$(GO) test -tags adversary -race -count=1 -timeout 20m -run 'Adversary' ./...

test-short: ## quick tests without the race detector
	$(GO) test -short -count=1 $(PKGS)

check: ## vet, staticcheck, import isolation between master and target, go.mod tidy drift
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	@./.ci/check-imports
	@cp go.mod /tmp/msx-go.mod.bak; cp go.sum /tmp/msx-go.sum.bak; \
	$(GO) mod tidy; \
	if ! diff -q go.mod /tmp/msx-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/msx-go.sum.bak >/dev/null; then \
		echo "go.mod/go.sum are not tidy: run go mod tidy and commit"; cp /tmp/msx-go.mod.bak go.mod; cp /tmp/msx-go.sum.bak go.sum; exit 1; fi

bench: ## fleet benchmark (msx bench, 200 targets) and benchmarks of the hot paths (consumer designs, schedules, decode, step flow)
	$(GO) run ./cmd/msx bench --targets 200
	$(GO) test -run '^$$' -bench . -benchtime 3x ./bus/ ./schemas/... ./target/...
