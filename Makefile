# gear: two commands matter.
#   make run    builds geard and runs it on 127.0.0.1:43273 (inside the project's systemd sandbox when this
#               machine's PID 1 is not systemd)
#   make test   installs what the tests need, then runs unit tests, the integration tests in the sandbox, and the
#               format check

SWIFT ?= swift
APT_PACKAGES = libsystemd-dev zlib1g-dev systemd dbus podman crun conmon fuse-overlayfs catatonit busybox-static \
               curl openssl iproute2 util-linux procps wrk hyperfine bc python3 python3-venv prometheus etcd-server etcd-client \
               nats-server
BENCH_PACKAGES = nginx-light apache2-utils gcc libc6-dev libssl-dev
SANDBOX = contrib/sandbox/gear-sandbox

.PHONY: all deps build build-tests release run test unit-tests integration-tests api-fuzz-deps fuzz lint format bench clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

build-tests: deps
	$(SWIFT) build --build-tests

# The optimised build the benchmarks use (CI builds it too: the optimiser has failed where debug builds passed).
release: deps
	$(SWIFT) build -c release

run: build
	@if [ "$$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then \
		contrib/sandbox/prepare-image.sh && exec .build/debug/geard $(GEARD_ARGS); \
	else \
		exec contrib/sandbox/run-geard.sh $(GEARD_ARGS); \
	fi

test: build-tests unit-tests integration-tests lint

# Every test target but the integration tests (which need the sandbox): a new unit test target runs without a change here.
unit-tests:
	$(SWIFT) test --skip-build --skip '^IntegrationTests\.'

integration-tests: api-fuzz-deps
	$(SANDBOX) run --net --bind "$(CURDIR)" -- contrib/sandbox/integration-tests.sh

api-fuzz-deps:
	@[ -x .build/schemathesis-venv/bin/schemathesis ] && [ -x .build/schemathesis-venv/bin/openapi-spec-validator ] || { \
		python3 -m venv .build/schemathesis-venv && \
		.build/schemathesis-venv/bin/pip install -q --disable-pip-version-check schemathesis openapi-spec-validator; }

# geard's parsers under libFuzzer for FUZZ_SECONDS each (Fuzz/run.sh); gear-fuzz builds apart, in .build-fuzz.
FUZZ_SECONDS ?= 30
fuzz: deps
	GEAR_FUZZ=1 $(SWIFT) build --build-path .build-fuzz --product gear-fuzz
	Fuzz/run.sh $(FUZZ_SECONDS)

# Format, and Package.swift's dependencies against what each target imports.
lint:
	$(SWIFT) format lint --strict --recursive Package.swift Plugins Sources Tests bench Fuzz
	python3 contrib/check-dependencies.py

format:
	$(SWIFT) format --in-place --recursive Package.swift Plugins Sources Tests bench Fuzz

bench: deps
	@missing=""; for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
	$(MAKE) release
	$(SANDBOX) run --net --bind "$(CURDIR)" -- bench/run-all.sh

clean:
	rm -rf .build .build-fuzz
