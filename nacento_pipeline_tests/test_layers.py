"""The layers of the package, as README's "How it is built" draws them: imports point downwards only.

core/ is pure (no Dagster, no storage or database client); the adapters (magento/, storage/, cache/) know
nothing of Dagster nor of how they are configured; resources/ wires settings to adapters; defs/ is the
Dagster layer. A module that breaks a rule is named with the offending import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nacento_pipeline"

CLIENT_LIBRARIES = {"dagster", "boto3", "botocore", "sqlalchemy", "pymysql", "redis", "requests", "psycopg2"}
ABOVE_ADAPTERS = {"defs", "resources", "definitions", "cli", "config"}

# layer -> (third-party roots it must not import, nacento_pipeline sub-packages it must not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "core": (CLIENT_LIBRARIES, {"magento", "storage", "cache"} | ABOVE_ADAPTERS),
    "magento": ({"dagster", "boto3", "botocore"}, {"storage", "cache"} | ABOVE_ADAPTERS),
    "storage": ({"dagster", "sqlalchemy", "pymysql"}, {"magento", "cache"} | ABOVE_ADAPTERS),
    "cache": ({"dagster"}, {"storage"} | ABOVE_ADAPTERS),
    "resources": (set(), {"defs", "definitions", "cli"}),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(layer: str) -> list[str]:
    libraries, packages = RULES[layer]
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in sorted(_imports(path)):
            parts = name.split(".")
            bad_library = parts[0] in libraries
            bad_package = parts[0] == "nacento_pipeline" and len(parts) > 1 and parts[1] in packages
            if bad_library or bad_package:
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(RULES))
def test_imports_point_downwards_only(layer: str):
    assert _violations(layer) == []


def test_the_package_root_holds_only_the_entry_points():
    """Everything else lives in a layer folder."""
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert root == ["__init__.py", "cli.py", "config.py", "definitions.py"]
