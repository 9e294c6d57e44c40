"""Write the OpenAPI document generated from the code: `python -m api.openapi [PATH]`."""

from __future__ import annotations

import sys
from pathlib import Path

from apispec.yaml_utils import dict_to_yaml

from api import create_app
from api.spec import OPENAPI_EXTENSION, document
from worker.settings import Settings


def render() -> str:
    """The OpenAPI document of any service as YAML, built from the schemas and resources."""
    app = create_app(Settings())
    with app.app_context():
        return dict_to_yaml(document(app.extensions[OPENAPI_EXTENSION]))


def main() -> None:
    """Write the document to the path given (default openapi.yaml)."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "openapi.yaml")
    path.write_text(render())


if __name__ == "__main__":
    main()
