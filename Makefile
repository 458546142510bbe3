# What CI runs, as one command each. `make check` = everything CI checks.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tessera/target

.PHONY: test check devnet bench fmt

test:
	bash scripts/fetch-models.sh && TESSERA_REQUIRE_MODELS=1 cargo test --workspace --locked

check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	$(MAKE) test

devnet:
	cargo run --release --locked -p tessera-cli -- devnet

bench:
	cargo bench --workspace

fmt:
	cargo fmt --all
