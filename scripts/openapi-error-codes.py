#!/usr/bin/env python3
"""Regenerates openapi.yaml's `ErrorCode` schema (the last one in the file) from the one code
catalogue, crates/core/src/problem.rs: the table, the enum and `x-codes`, so the document can
never drift from the codes the product answers with. crates/core/tests/catalogue.rs checks that
every code is listed. Usage: scripts/openapi-error-codes.py (rewrites openapi.yaml in place)."""
import json
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
source = (root / "crates/core/src/problem.rs").read_text()
block = source[source.index("catalogue! {\n") + len("catalogue! {\n"):]
block = block[: block.index("\n}\n")]

codes, doc = [], []
for line in block.splitlines():
    line = line.strip()
    if line.startswith("///"):
        doc.append(line[3:].strip())
    elif m := re.match(r'(\w+) = "([A-Z0-9_]+)", (\d+), "(.*)";$', line):
        codes.append((m[2], int(m[3]), m[4], " ".join(doc)))
        doc = []
    elif line.startswith("//") or not line:
        doc = [] if not line.startswith("///") else doc

out = ["    ErrorCode:", "      type: string", "      description: |",
       "        Every stable error code of the product (the catalogue in `crates/core/src/problem.rs`,",
       "        written here by `scripts/openapi-error-codes.py`), with its HTTP status and title in",
       "        `x-codes`. The origin ledger's codes (`MALFORMED_DOCUMENT` to `LEDGER_TOKEN_INVALID`) are",
       "        answered by `invoice-origin` (tag `ledger`); edge clients see the permanent ones as",
       "        `rejection.code` of a rejected document.", "",
       "        | code | status | title |", "        |---|---|---|"]
out += [f"        | `{c}` | {s} | {t} |" for c, s, t, _ in codes]
out += ["      enum:"] + [f"        - {c}" for c, *_ in codes]
out += ["      x-codes:"]
for c, s, t, d in codes:
    out += [f"        {c}:", f"          status: {s}", f"          title: {json.dumps(t, ensure_ascii=False)}",
            f"          description: {json.dumps(d, ensure_ascii=False)}"]

path = root / "openapi.yaml"
text = path.read_text()
start = text.index("\n    ErrorCode:\n") + 1
path.write_text(text[:start] + "\n".join(out) + "\n")
print(f"openapi.yaml: {len(codes)} error codes")
