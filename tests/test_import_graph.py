"""The installed package's import graph has no cycles, and installed code never imports the repository's bench/ or
tests/ folders (neither is installed).

Every .py under mlacalc/, kernels/ and profiler/ is parsed with `ast` (nothing is imported, so no torch or GPU is
needed). Module names follow pyproject's package-dir mapping: kernels/x.py is mlacalc.kernels.x, profiler/x.py is
mlacalc.profiler.x, mlacalc/a/b.py is mlacalc.a.b. Imports inside functions count: a lazy import still closes a
circle when both modules are loaded.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"mlacalc": REPO / "mlacalc", "mlacalc.kernels": REPO / "kernels", "mlacalc.profiler": REPO / "profiler"}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the installed packages."""
    mods = {}
    for pkg, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([pkg, *parts])] = path
    return mods


def _imported_names(name: str, path: Path) -> set[str]:
    """Absolute names of everything `path` (module `name`) imports, relative imports resolved; for `from X import
    y` both X and X.y (y may be a submodule)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out = set()
    tree = ast.parse(path.read_text(), str(path))
    # `if TYPE_CHECKING:` imports never run: annotations only, no edge of the runtime import graph.
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    """Edges between the package's own modules (an import of a.b.c also loads its packages a.b and a)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for imp in _imported_names(name, path):
            parts = imp.split(".")
            for i in range(len(parts), 0, -1):  # the module itself and every package above it
                cand = ".".join(parts[:i])
                if cand in mods and cand != name and not name.startswith(cand + "."):
                    deps.add(cand)
        graph[name] = deps
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_module_names_follow_the_package_dir_mapping():
    mods = _modules()
    assert {"mlacalc", "mlacalc.cli", "mlacalc.kernels", "mlacalc.kernels.triton_mla_decode",
            "mlacalc.profiler.timing"} <= set(mods)
    # relative imports resolve to the mapped names: gluon_mla_decode's `from .gluon_mla_seesaw import ...`
    g = _graph()
    assert "mlacalc.kernels.gluon_mla_seesaw" in g["mlacalc.kernels.gluon_mla_decode"]
    assert "mlacalc.profiler.memory" in g["mlacalc.profiler.train"]


def test_the_finder_sees_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_installed_modules_import_no_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_installed_modules_never_import_bench_or_tests():
    bad = []
    for name, path in _modules().items():
        for imp in _imported_names(name, path):
            top = imp.split(".")[0]
            if top in ("bench", "tests") or imp.startswith(("mlacalc.bench", "mlacalc.tests")):
                bad.append(f"{path.relative_to(REPO)}: {imp}")
    assert not bad, bad


def test_tests_and_bench_import_the_installed_names():
    """`from profiler import ...` worked in a checkout (the repository root on sys.path) and failed in CI, which
    tests the installed wheel, whose names are mlacalc.profiler and mlacalc.kernels (a review's new test did exactly
    that). Every import in tests/ and bench/ of the folders' bare names is listed here: there must be none."""
    bare = []
    for path in sorted([*(REPO / "tests").rglob("*.py"), *(REPO / "bench").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            bare += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names
                     if n.split(".")[0] in ("profiler", "kernels")]
    assert bare == []
