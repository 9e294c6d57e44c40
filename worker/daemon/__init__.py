"""Images that live in a Docker daemon: the SDK push path and the faster export path."""
