#!/usr/bin/env python3
"""A fair boto3 peer for `bookstream stream --interval 0` (the backfill), for benches/backfill.sh.

    python3 benches/boto3_put_records.py --stream-name S --json-file F --endpoint-url U [--region R]

What a careful hand-written backfill script does, and nothing the old streamer got wrong:
- reads the JSON array with json.load (JSON Lines when the name ends in .jsonl or with
  --json-lines), as a typical script does (the whole input in memory);
- PutRecords in batches of up to 500 entries and up to 5 MiB per request (data + partition key,
  as Kinesis counts it); PartitionKey = the record's `upc` (the record's index when it has none),
  Data = compact JSON, UTF-8, like bookstream's;
- after each response, re-sends only the entries that failed (those with an ErrorCode; the
  response's FailedRecordCount > 0), with a small exponential backoff with jitter, up to
  --max-attempts per batch; exits 1 if entries are still failing then;
- SEQUENTIAL: one request at a time, no threads, no asyncio (like a typical script). Against moto
  the server is the bottleneck anyway; what the benchmark compares is the client's CPU.

Prints "sent N" (records accepted by the stream) on stdout at the end.
"""
import argparse
import json
import random
import sys
import time

import boto3
from botocore.config import Config

MAX_ENTRIES = 500
MAX_REQUEST_BYTES = 5 * 1024 * 1024
MAX_ENTRY_BYTES = 1024 * 1024


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stream-name", required=True)
    p.add_argument("--json-file", required=True)
    p.add_argument("--json-lines", action="store_true", help="input is JSON Lines (also: a .jsonl name)")
    p.add_argument("--endpoint-url")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--max-attempts", type=int, default=10, help="attempts per batch for failed entries")
    return p.parse_args()


def load(path, lines):
    with open(path, encoding="utf-8") as f:
        if lines or path.endswith(".jsonl"):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


def entries(records):
    """(entry, size) per record, in input order."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for i, rec in enumerate(records):
        data = dumps(rec).encode("utf-8")
        upc = rec.get("upc") if isinstance(rec, dict) else None
        key = (upc if isinstance(upc, str) and upc else str(i))[:256]
        size = len(data) + len(key.encode("utf-8"))
        if size > MAX_ENTRY_BYTES:
            print(f"record {i}: {size} bytes, over the 1 MiB entry limit; skipped", file=sys.stderr)
            continue
        yield {"Data": data, "PartitionKey": key}, size


def batches(records):
    batch, batch_bytes = [], 0
    for entry, size in entries(records):
        if batch and (len(batch) == MAX_ENTRIES or batch_bytes + size > MAX_REQUEST_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(entry)
        batch_bytes += size
    if batch:
        yield batch


def put_batch(client, stream, batch, max_attempts):
    """Sends one batch; re-sends only the failed entries. Returns how many were accepted."""
    pending, accepted = batch, 0
    for attempt in range(max_attempts):
        resp = client.put_records(StreamName=stream, Records=pending)
        failed = [e for e, r in zip(pending, resp["Records"]) if r.get("ErrorCode")]
        accepted += len(pending) - len(failed)
        if not failed:
            return accepted
        codes = {r["ErrorCode"] for r in resp["Records"] if r.get("ErrorCode")}
        print(f"{resp.get('FailedRecordCount', len(failed))} of {len(pending)} entries failed "
              f"({', '.join(sorted(codes))}); retrying them", file=sys.stderr)
        pending = failed
        time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
    raise SystemExit(f"{len(pending)} entries still failing after {max_attempts} attempts; "
                     f"{accepted} accepted from this batch")


def main():
    a = parse_args()
    # boto3's own "standard" retries cover whole-request errors (throttling, 5xx, resets).
    client = boto3.client("kinesis", region_name=a.region, endpoint_url=a.endpoint_url,
                          config=Config(retries={"mode": "standard", "max_attempts": 5}))
    records = load(a.json_file, a.json_lines)
    sent = 0
    for batch in batches(records):
        sent += put_batch(client, a.stream_name, batch, a.max_attempts)
    print(f"sent {sent}")


if __name__ == "__main__":
    main()
