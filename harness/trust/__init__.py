"""Trust primitives: DSSE envelopes, Ed25519 keys, statements, report files, the release audit.

`dsse` owns the envelope (sign bytes, verify before parsing); `keys` loads and creates keys;
`statement` checks an in-toto Statement's shape; `report_file` reads and writes signed
reports; `evidence` re-judges recorded verdicts; `audit` checks a report end to end. The
workflow tools built on them (merge, promote, YAML editing, the CI summary) live in
harness.workflow.
"""
