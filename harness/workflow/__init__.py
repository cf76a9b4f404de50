"""Workflow tools built on the trust primitives (harness.trust): `merge` joins partial reports,
`promote` plans a contract status change from an audited report, `yaml_edit` rewrites a
contract's YAML keeping its comments, `ci_summary` turns audit results into CI annotations.
The commands `harness merge|promote|audit` call them.
"""
