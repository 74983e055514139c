"""Running repository code: processes, sandbox backends and their checks."""
