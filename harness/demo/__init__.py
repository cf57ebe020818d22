"""The built-in demo: tiny seeded models and small synthetic datasets in the real on-disk
formats."""
