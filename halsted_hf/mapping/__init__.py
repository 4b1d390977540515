"""Mapping surgery from video: the multi-stage workflow (workflow.py) over a model engine
(workflow_engine.py), the Timeline it produces (timeline.py), the video overlay (overlay.py), the
transformers pipeline (pipeline.py), the registry of mapping names every front end uses (registry.py)
and the checks and all-or-none writing of output files (outputs.py).

Kept empty on purpose: `halsted_hf.core.mappings` and `.outputs` are imported by the CLI and the platform's database
layer, which must not load torch.
"""
