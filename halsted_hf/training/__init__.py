"""Training: joint multitask training with Monte-Carlo cross-validation (trainer.py, cv.py), the per-task
baseline (per_task.py, heads.py), the one training loop (loop.py), encoder pretraining and probes, the RUN folder
format (runs.py). Imports model, data and video below it; evaluation imports training, never the other way round."""
