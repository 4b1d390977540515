"""`halsted baseline --run RUN`: train the SAIS-style baseline (a separate model per task) for every fold of a run.

With the run's own settings (starting weights, cache, optimiser, schedule, epochs, batch size, training and
validation videos); `halsted evaluate` then compares Halsted with these models. Needed for runs trained with
--train-encoder; for frozen-encoder runs `halsted evaluate` trains per-task heads itself. Running it again
skips finished task models. See halsted_hf/training/per_task.py.
"""

from __future__ import annotations


def configure(parser):
    parser.add_argument("--run", required=True, help="a run folder written by `halsted train`")


def run(args) -> int:
    from ..training.per_task import train_task_models_of_run

    result = train_task_models_of_run(args.run, log=lambda m: print(m, flush=True))
    for fold, tasks in result.items():
        for task, best in tasks.items():
            acc = (best or {}).get("val_accuracy")
            print(f"{fold} {task}: best epoch {best and best['epoch']}, validation accuracy "
                  f"{'- (no validation clip of this task)' if acc is None else f'{acc:.3f}'}")
    return 0
