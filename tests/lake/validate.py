#!/usr/bin/env python3
"""Validates S3-shaped JSON Lines objects against `bookstream schema --format json-schema`.

    python3 tests/lake/validate.py SCHEMA.json OBJECT...

Every line of every object is one record and must validate (draft 2020-12, formats checked);
a blank line (a double newline: the daemon's delimiter and Firehose's both) is an error too.
Prints "N records in M objects valid" or each failure (file:line: what), exit 1. Without the
`jsonschema` package it fails: `python3 -m pip install jsonschema`.
"""

import json
import sys

try:
    from jsonschema import Draft202012Validator, FormatChecker
except ImportError:
    sys.exit("validate.py: needs the jsonschema package: python3 -m pip install 'jsonschema==4.26.0'")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    schema = json.load(open(argv[1]))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    records, errors = 0, []
    for path in argv[2:]:
        text = open(path, encoding="utf-8").read()
        if not text.endswith("\n"):
            errors.append(f"{path}: the last record has no newline")
        for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
            if not line.strip():
                errors.append(f"{path}:{n}: blank line (a double newline?)")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{path}:{n}: not one JSON object: {e}")
                continue
            records += 1
            for e in validator.iter_errors(record):
                where = "/".join(str(p) for p in e.absolute_path) or "(record)"
                errors.append(f"{path}:{n}: {where}: {e.message}")
    if errors:
        print("\n".join(errors[:20]))
        print(f"{len(errors)} errors in {records} records")
        return 1
    print(f"{records} records in {len(argv) - 2} objects valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
