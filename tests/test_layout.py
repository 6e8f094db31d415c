"""The package's shape: no import cycle (function-level imports included) and one definition of each
registry and shared helper."""

import ast
import pathlib
import re

import pdekit

ROOT = pathlib.Path(pdekit.__file__).parent


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("pdekit", *path.relative_to(ROOT).with_suffix("").parts))
        mods[name.removesuffix(".__init__")] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> the pdekit modules it imports anywhere in its body (a package's submodule counts as
    itself, not as its package's __init__)."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pdekit"):
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                         for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("pdekit")}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, found = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 50 and "pdekit.train.trainer" in graph["pdekit.train.fit"]
    assert cycles(graph) == []
    assert not any(d.startswith("pdekit.pipeline") or d.startswith("pdekit.recipes")
                   for m, deps in graph.items() if m.startswith("pdekit.train") for d in deps)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_each_registry_and_shared_helper_is_defined_once():
    patterns = {"PROBLEMS registry": r"^PROBLEMS\b.*=", "MODELS registry": r"^MODELS\b.*=",
                "TASKS registry": r"^TASKS\b.*=", "activation table": r"^ACTIVATIONS\b.*=",
                "MLP builder": r"^def _?mlp\(", "relative L2": r"^def relative_l2\(", "train config": r"^class \w*Train\w*Config\b"}
    for what, pattern in patterns.items():
        where = [p.name for p in ROOT.rglob("*.py") if re.search(pattern, p.read_text(), re.M)]
        assert len(where) == 1, (what, where)


def test_every_public_class_function_and_method_has_a_docstring():
    import importlib
    import inspect
    import pkgutil

    missing = []
    for info in pkgutil.walk_packages(pdekit.__path__, "pdekit."):
        if info.name == "pdekit.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            for attr, member in vars(obj).items() if inspect.isclass(obj) else ():
                inherited = any((getattr(getattr(base, attr, None), "__doc__", None) or "").strip()
                                for base in obj.__mro__[1:])
                if not attr.startswith("_") and inspect.isfunction(member) and not (member.__doc__ or "").strip() \
                        and not inherited:
                    missing.append(f"{module.__name__}.{name}.{attr}")
    assert missing == []
