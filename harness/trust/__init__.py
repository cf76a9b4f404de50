"""Trust: DSSE envelopes, Ed25519 keys, and the tools that consume signed reports.

`dsse` owns the envelope (sign bytes, verify before parsing); `keys` loads and creates keys;
`statement` checks an in-toto Statement's shape; `audit`, `merge`, `promote` and `ci_summary`
are the consumers behind `harness audit|merge|promote`.
"""
