"""Judges: what scores a match when no engine can. `sandbox` runs untrusted programs under OS
limits; `program_check` is the static check of a program; `code_judge` scores task games with both."""
