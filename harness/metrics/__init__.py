"""Metrics as pure functions, one place for all answer parsing shared by tasks."""
