"""Mapping surgery from video: the multi-stage workflow (workflow.py) over a model engine
(workflow_engine.py), the Timeline it produces (timeline.py: the data type and its formats; segment.py,
merging.py, summaries.py), the video overlay (overlay.py), the transformers pipeline (pipeline.py) and the
checks and all-or-none writing of output files (outputs.py). Which tasks a mapping asks is the model's
(model/plans.py); checking a mapping's name is core/mappings.py's.

Kept empty on purpose: `.outputs` and `.timeline` are imported by the CLI and the platform's database layer,
which must not load torch.
"""
