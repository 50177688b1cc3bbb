#!/usr/bin/env bash
# The refresh benchmark: today's full refresh and the incremental one side by side against the
# project's test site (50 ms an answer, 100 books on 10 listing pages, 5 requests a second), with
# moto, in one run: a 10 s cron (full; incremental with verify_every 1h; incremental with
# verify_every 2m, for the stock count), then the default 1-minute cron and refresh (skip it
# with BENCH_SKIP_MINUTE=1; it takes about 5 minutes). Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debug build: the figures are requests, bytes and seconds set by the budget and the site, not CPU.
cargo test --features bench-refresh --test polite_bench -- --nocapture refresh_benchmark
