"""Errors a user can act on: printed as one line, never a traceback."""


class HarnessError(Exception):
    """A problem with the user's input or environment (config, files, devices).

    The entry point prints ``error: <message>`` on one line and exits non-zero.
    """


class SampleError(Exception):
    """One sample cannot be evaluated (malformed record, undecodable image, ...).

    The engine records it as a failed sample with ``str(exc)`` as its reason and goes on.
    """


class ConfigError(HarnessError):
    """What the user wrote cannot be run as written (unknown key, wrong type, a conflict between
    two settings): ``python -m harness`` exits with code 2, before anything is written."""
