"""Models: everything that turns a list of :class:`harness.types.Request` into texts."""
