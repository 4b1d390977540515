"""The torch-free bottom of Halsted: what every layer above may use, and what the CLI table, the platform's
database layer and the Hub-free tools load without torch or transformers.

- `errors.py`: the errors a user can act on (HalstedError and its kinds);
- `io.py`: atomic writes and safe reads of JSON and files;
- `confidence.py`: calibrated confidence (per-task temperatures, the words low / medium / high);
- `mappings.py`: the mapping names every front end accepts, and what each maps;
- `clock.py`: times as a surgeon reads them (whole seconds; tenths where a segment is picked).

Nothing here imports from the rest of halsted_hf, nor torch: a test enforces both (tests/test_import_graph.py,
tests/test_package_imports.py). The taxonomy stays in model/taxonomy.py, at the same floor: it is also one of the
model's flat Hub files, which must import each other as siblings.
"""
