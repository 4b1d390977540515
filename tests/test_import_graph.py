"""The package's dependency picture holds: every import inside halsted_hf (module level or inside a
function, read with `ast`, nothing imported) runs down the floors of docs/architecture.md, never up,
and no group of folders imports itself in a circle.

Floors, top to bottom (a folder may import its own floor only where SIDEWAYS says so):
  7  the package facade: halsted_hf/__init__.py, _autoregister.py (lazy: names, not imports)
  6  cli.py, commands/                  the `halsted` command
  5  platform/, plots.py                service.py (Platform), tables.py (the database), accounts, storage, jobs,
                                       worker, inference backends; plots.py beside it, importing none of it
  4  mapping/, training/, evaluation/, publish.py, archive/, deid/
  3  model/, data/, video/              (model/ and video/ are lazy packages: names, not imports)
  2  palette.py
  1  core/ (errors, io, confidence, mappings, clock); model/taxonomy.py + plans.py (the taxonomy sits at the
                                       bottom: data and the Timeline need it without the model; it is still one of
                                       the Hub's flat files). core/ imports nothing else of halsted_hf.
"""

from __future__ import annotations

import ast
import os
from collections import defaultdict

import halsted_hf

PACKAGE_DIR = os.path.dirname(halsted_hf.__file__)

FLOOR = {"__init__": 7, "_autoregister": 7, "cli": 6, "commands": 6, "platform": 5, "mapping": 4, "training": 4,
         "evaluation": 4, "publish": 4, "model": 3, "data": 3, "video": 3, "taxonomy": 1, "core": 1,
         "plots": 5, "archive": 4, "deid": 4, "palette": 2}
SIDEWAYS = {("evaluation", "training"),  # evaluation scores what training made; training never reads evaluation
            ("data", "video"),  # synthetic surgery is rendered, feature caches decoded, by the video layer
            ("archive", "mapping"),  # the archive maps each video with the workflow, on Ray actors
            ("archive", "deid"),  # map-archive --deidentify maps each video's de-identified copy
            ("deid", "mapping"),  # de-identification checks its outputs as every front end does (mapping/outputs.py)
            ("__init__", "_autoregister")}  # the facade installs its import hook
# (from unit, to unit) arrows that break the rules today, each with the reason it stays: keep this short.
ALLOWED_EXCEPTIONS: dict = {}


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].split(os.sep)
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def _type_checking_nodes(tree) -> set:
    """Imports under `if TYPE_CHECKING:`: annotations only, never run."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for child in node.body for n in ast.walk(child)}
    return out


def _imports(run_only: bool = False):
    """(importing module, imported module, line) for every halsted_hf import in the package; `run_only`: without
    the imports under `if TYPE_CHECKING:`."""
    for folder, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d not in ("assets", "__pycache__")]  # assets: the Hub copies
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = _module_name(path)
            package = module if name == "__init__.py" else module.rsplit(".", 1)[0]
            tree = ast.parse(open(path, encoding="utf-8").read(), path)
            skipped = _type_checking_nodes(tree) if run_only else set()
            for node in ast.walk(tree):
                if id(node) in skipped:
                    continue
                if isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = package.split(".")[: len(package.split(".")) - node.level + 1]
                        target = ".".join(base + ([node.module] if node.module else []))
                    else:
                        target = node.module or ""
                    targets = [target] if node.module or not node.level else [f"{target}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                for t in targets:
                    if t == "halsted_hf" or t.startswith("halsted_hf."):
                        yield module, t, f"{os.path.relpath(path, PACKAGE_DIR)}:{node.lineno}"


def _unit(module: str) -> str:
    """The floor-plan unit of a module: its folder (or root module); model/taxonomy.py is its own."""
    parts = module.split(".")
    if module in ("halsted_hf.model.taxonomy", "halsted_hf.model.plans"):  # the taxonomy and the plans it declares
        return "taxonomy"
    return parts[1] if len(parts) > 1 else "__init__"


def _unit_edges():
    edges = defaultdict(list)
    for src, dst, where in _imports():
        a, b = _unit(src), _unit(dst)
        if a != b:
            edges[(a, b)].append(f"{where} imports {dst}")
    return edges


def test_every_unit_has_a_floor():
    units = {u for edge in _unit_edges() for u in edge}
    units |= {_unit(_module_name(os.path.join(PACKAGE_DIR, n))) for n in os.listdir(PACKAGE_DIR) if n.endswith(".py")}
    units |= {d for d in os.listdir(PACKAGE_DIR) if os.path.exists(os.path.join(PACKAGE_DIR, d, "__init__.py"))}
    assert units - {"assets"} <= set(FLOOR), (
        f"give these a floor in this test and docs/architecture.md: {units - set(FLOOR)}")


def test_the_walk_sees_the_imports_it_must_see():
    edges = _unit_edges()  # a walker that found nothing would pass everything
    assert ("mapping", "model") in edges and ("commands", "platform") in edges and ("evaluation", "training") in edges


def test_no_import_runs_up_or_sideways():
    wrong = {}
    for (a, b), where in _unit_edges().items():
        if FLOOR[a] > FLOOR[b] or (a, b) in SIDEWAYS or (a, b) in ALLOWED_EXCEPTIONS:
            continue
        wrong[f"{a} (floor {FLOOR[a]}) -> {b} (floor {FLOOR[b]})"] = where
    assert not wrong, wrong


def test_no_import_cycle_between_units():
    graph = defaultdict(set)
    for a, b in _unit_edges():
        graph[a].add(b)
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_no_module_level_import_cycle():
    """Imports executed when a module loads (not inside a function, not under TYPE_CHECKING) never form
    a circle between modules: such a circle breaks depending on which module is imported first."""
    graph = defaultdict(set)
    for folder, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d not in ("assets", "__pycache__")]
        for name in (f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            module = _module_name(path)
            package = module if name == "__init__.py" else module.rsplit(".", 1)[0]
            for node in ast.parse(open(path, encoding="utf-8").read()).body:  # top level only
                if isinstance(node, ast.ImportFrom) and node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    target = f"{base}.{node.module}" if node.module else base
                    graph[module].add(target)
                    if not node.module:
                        graph[module] |= {f"{base}.{a.name}" for a in node.names}
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("halsted_hf"):
                    graph[module].add(node.module)
                elif isinstance(node, ast.Import):
                    graph[module] |= {a.name for a in node.names if a.name.startswith("halsted_hf")}
    # importing a.b.c runs a and a.b first: an edge to each parent package
    for module in list(graph):
        for target in list(graph[module]):
            parts = target.split(".")
            graph[module] |= {".".join(parts[:i]) for i in range(1, len(parts))} - {module}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open" and not module_is_parent(nxt, node):
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    def module_is_parent(package, module):  # a package's __init__ importing its own submodule is no cycle
        return module.startswith(package + ".")

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_no_import_cycle_between_files():
    """No two files import each other, directly or round a circle, counting imports inside functions too (only
    `if TYPE_CHECKING:` annotations are left out): a circle hidden in a function is still two files that cannot
    be understood, or moved, one without the other. Importing a package means its __init__.py."""
    graph = defaultdict(set)
    for src, dst, _ in _imports(run_only=True):
        if src != dst and not src.startswith(dst + "."):  # a module naming its own package: the package's face
            graph[src].add(dst)
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def strongly_connected(v):  # Tarjan: every group of files that reach each other
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongly_connected(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strongly_connected(v)
    assert not cycles, cycles


def test_core_imports_nothing_above_it():
    """core/ is the bottom: whatever it imports of halsted_hf is core/ itself (the CLI table, the database layer
    and every floor above may rely on it without pulling in anything else)."""
    wrong = [f"{where} imports {dst}" for src, dst, where in _imports()
             if src.startswith("halsted_hf.core") and not dst.startswith("halsted_hf.core")]
    assert not wrong, wrong
