"""The code's shape, checked: modules a reader can take in at once, and imports
that go one way (no module needs, even inside a function, one that needs it)."""

import ast
import subprocess
import sys

import pytest

from text_similarity_model.settings import REPO_ROOT

PACKAGES = ("text_similarity_model", "api", "scraper")
MAX_MODULE_LINES = 400


def project_modules() -> dict[str, object]:
    """``{"text_similarity_model.steps.ranking": Path, ...}`` for every module of the packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imported_modules(name: str, path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its code (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from . import model_file` imports a module; `from .x import name` imports x.
            targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known] or [base]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def test_every_module_is_short_enough_to_read_at_once():
    long = {str(path.relative_to(REPO_ROOT)): count for path in project_modules().values()
            if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"over {MAX_MODULE_LINES} lines: {long}"


def test_no_import_cycle_anywhere():
    modules = project_modules()
    graph = {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}
    cycles = []

    def visit(name, trail):
        if name in trail:
            cycles.append(trail[trail.index(name):] + [name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, trail + [name])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other inside functions are found."""
    (tmp_path / "one.py").write_text("def f():\n    from . import two\n")
    (tmp_path / "two.py").write_text("from .one import f\n")
    known = {"pkg.one", "pkg.two"}
    assert imported_modules("pkg.one", tmp_path / "one.py", known) == {"pkg.two"}
    assert imported_modules("pkg.two", tmp_path / "two.py", known) == {"pkg.one"}


@pytest.mark.slow
def test_each_module_imports_alone():
    """Each module, imported first in an interpreter where none of the project's is, loads."""
    names = sorted(name for name in project_modules() if not name.endswith("__main__"))
    script = (
        "import importlib, sys\n"
        f"packages = {PACKAGES!r}\n"
        "failed = []\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in packages]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_developers_guide_names_every_module():
    """docs/developing.md's layout is the map a newcomer reads: a module it doesn't name is one
    they can't place (the README's old map had silently lost four)."""
    guide = (REPO_ROOT / "docs" / "developing.md").read_text()
    unnamed = [str(path.relative_to(REPO_ROOT)) for name, path in project_modules().items()
               if path.name not in ("__init__.py", "__main__.py") and f"`{path.name}`" not in guide
               and f"`{path.relative_to(REPO_ROOT / name.split('.')[0]).as_posix()}`" not in guide]
    assert not unnamed, f"docs/developing.md doesn't name {unnamed}: add them to its layout tables"


def test_the_command_s_help_and_usage_errors_load_no_numerical_library():
    """`text_similarity_model --help` (and a mistyped option) answer at once: building the parser
    imports neither NumPy, SciPy, pandas, scikit-learn nor spaCy (what a command needs, it imports when run)."""
    script = ("import sys\n"
              "from text_similarity_model.cli import build_parser\n"
              "build_parser()\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'sklearn', 'spacy', 'scipy'}))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
