"""`stalllog vmcore`: the clue a vmcore of a stalling machine gives (issue #13).

The collector (collect.py, drgn) reads a dump into a JSON document (collected.py); the rest
reads that document: `read()` gives the printk ring as a capture, the `vmcore_*` tables and
the analysis; clue.py the small redacted report (docs/vmcore.md).
"""

from stalllog.vmcore.read import VMCORE_TABLES, VmcoreResult, read

__all__ = ["VMCORE_TABLES", "VmcoreResult", "read"]
