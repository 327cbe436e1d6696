"""Every library the package imports is one it declares: ``make run`` installs no dev extras."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Imported only when their optional extra is installed (the code says so where it does).
OPTIONAL = {"psycopg": "postgres", "s3fs": "s3"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        name = requirement.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip()
        names.add(name.lower().replace("_", "-"))
    return names


def _imported() -> set[str]:
    found = set()
    for path in (ROOT / "src" / "modelyard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"modelyard", "__future__"}


def test_every_imported_library_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    declared = _declared()
    imported = _imported()
    # The scan reads the package: the libraries it is built on are among what it finds.
    assert {"starlette", "sqlalchemy", "jsonata", "jsonpath_ng"} <= imported, imported
    missing = []
    for module in sorted(imported):
        if module in OPTIONAL:
            continue
        owners = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not owners & declared:
            missing.append(f"{module} (from {', '.join(sorted(owners))})")
    assert not missing, "imported but not declared in [project].dependencies: " + "; ".join(missing)
