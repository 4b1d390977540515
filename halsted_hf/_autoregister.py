"""Register Halsted with transformers when, and only when, transformers is imported.

`import halsted_hf` stays light: the CLI table, the errors and the platform's database layer load
neither torch nor transformers. Yet `import halsted_hf; AutoModel.from_pretrained(folder)` must still
find the model without trust_remote_code, and `pipeline("surgical-video-mapping", ...)` the task.
So the registering modules (halsted_hf.model.auto, halsted_hf.mapping.pipeline) are imported right after
the module they register with has finished importing: at once if it already has, otherwise through a
small import hook that wraps that one module's loader.

When transformers is first imported by one of the model's own files (configuration_halsted.py imports it at
its top), that file is still half-imported, and importing the registering module would fail on it; the
registration then waits until the last half-imported module of halsted_hf.model has finished.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# transformers module -> our module that registers with it once it is imported
REGISTER_AFTER = {"transformers": "halsted_hf.model.auto", "transformers.pipelines": "halsted_hf.mapping.pipeline"}
MODEL_PACKAGE = "halsted_hf.model."
_waiting = []  # transformers modules whose registration waits for a half-imported model file


def _model_files_importing(but: str = "") -> bool:
    return any(name.startswith(MODEL_PACKAGE) and name != but
               and getattr(getattr(module, "__spec__", None), "_initializing", False)
               for name, module in list(sys.modules.items()))


def _register(module_name: str, finishing: str = "") -> None:
    """`finishing`: the model file whose import is ending (still marked as importing)."""
    if _model_files_importing(but=finishing):
        _waiting.append(module_name)
        return
    try:
        importlib.import_module(REGISTER_AFTER[module_name])
    except ImportError as err:  # e.g. a transformers build without pipelines: the rest still works
        # A Hub file (halsted_hf/model/configuration_halsted.py, ...) imported first imports transformers
        # half-way through itself: registering now would need that half-made module. The package's own ways
        # in (halsted_hf.model's names, hub.py, registry.create) import model/auto.py first, which registers.
        if module_name == "transformers" and "partially initialized module 'halsted_hf.model." not in str(err):
            raise


def _model_file_imported(name: str) -> None:
    """A file of halsted_hf.model finished importing: run the registrations that waited for it."""
    if _waiting and not _model_files_importing(but=name):
        waiting = list(_waiting)
        _waiting.clear()
        for module_name in waiting:
            _register(module_name, finishing=name)


class _ThenRegister(importlib.abc.Loader):
    """Runs the real loader, then registers. Anything else is the real loader's."""

    def __init__(self, loader, module_name: str):
        self._loader, self._module_name = loader, module_name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        if self._module_name in REGISTER_AFTER:
            _register(self._module_name)
        else:
            _model_file_imported(self._module_name)

    def __getattr__(self, name):  # get_resource_reader, get_source, is_package, ...
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self._finding = set()

    def find_spec(self, fullname, path, target=None):
        if (fullname not in REGISTER_AFTER and not fullname.startswith(MODEL_PACKAGE)) or fullname in self._finding:
            return None
        self._finding.add(fullname)  # the real finders below us find the real spec
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.discard(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader, fullname)
        return spec


def install() -> None:
    waiting = [name for name in REGISTER_AFTER if name not in sys.modules]
    for name in REGISTER_AFTER:
        if name in sys.modules:
            _register(name)
    if waiting and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
