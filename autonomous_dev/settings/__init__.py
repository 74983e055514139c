"""The settings model, its sources, credentials and `config --validate` checks."""
