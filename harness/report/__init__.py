"""Reports: the in-toto statement of a run (statement.py), its code revision (revision.py),
JUnit XML (junit.py) and the console table (table.py). Files are written through
harness.trust.report_file (DSSE envelope, atomic)."""
