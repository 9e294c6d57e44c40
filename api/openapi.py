"""Write the OpenAPI document generated from the code: `python -m api.openapi [PATH]`."""

from __future__ import annotations

import sys
from pathlib import Path

from api import OPENAPI_EXTENSION, create_app
from worker.settings import Settings


def render() -> str:
    """The OpenAPI document as YAML, built from the schemas and resources."""
    app = create_app(Settings())
    with app.app_context():
        return str(app.extensions[OPENAPI_EXTENSION].spec.to_yaml())


def main() -> None:
    """Write the document to the path given (default openapi.yaml)."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "openapi.yaml")
    path.write_text(render())


if __name__ == "__main__":
    main()
