"""The `pushgate` command: push images, follow and cancel jobs over pushgate's HTTP API.

`__version__` is the one place the version of both distributions (the client `pushgate` and
the server `pushgate-server`) is written; both pyproject files read it from here.
"""

__version__ = "0.1.0"
