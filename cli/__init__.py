"""The `pushgate` command: push images, follow and cancel jobs over pushgate's HTTP API."""
