#!/usr/bin/env bash
# The refresh benchmark: today's full refresh and the incremental one side by side against the
# project's test site (50 ms an answer, 100 books, 5 requests a second, a 10 s cron), with moto.
# Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debug build: the figures are requests and seconds set by the budget and the site, not CPU.
cargo test --features bench-refresh --test polite_bench -- --nocapture refresh_benchmark
