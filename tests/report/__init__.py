"""Tests of harness.report (a package so that module names stay unique)."""
