# caracal — the two commands a user needs (see README.md):
#   make quickstart   set up, build, start caracal-apiserver, apply examples/, show them
#   make test         set up, build, run every test (unit, integration with real kubectl)
BUILD ?= build
JOBS ?= $(shell nproc)
export PATH := $(CURDIR)/tools/bin:$(PATH)
# ccache and kubectl keep caches under HOME; CI may start without one.
export HOME ?= /root

.PHONY: all setup configure build test unit quickstart bench fuzz clean

all: build

setup:
	@bash tools/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@ninja -C $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 600 -j 2

unit: build
	@cd $(BUILD) && ctest --output-on-failure -LE integration -j 2

quickstart: build
	@bash tools/quickstart.sh $(BUILD)

bench: build
	@bash bench/run.sh $(BUILD)

fuzz: setup
	@cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCARACAL_FUZZ=ON >/dev/null
	@ninja -C build-fuzz selector_fuzz
	@./build-fuzz/api/selector_fuzz -max_total_time=60

clean:
	@rm -rf $(BUILD)
