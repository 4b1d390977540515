"""Mapping surgery from video: the multi-stage workflow (workflow.py) over a model engine
(workflow_engine.py), the Timeline it produces (timeline.py), the video overlay (overlay.py), the
transformers pipeline (pipeline.py) and the registry of mapping names every front end uses (registry.py).

Kept empty on purpose: `halsted_hf.mapping.registry` is imported by the CLI and the platform's database
layer, which must not load torch.
"""
