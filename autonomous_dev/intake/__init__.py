"""Issues in: discovery from the code, error reports, tracebacks and deduplication."""
