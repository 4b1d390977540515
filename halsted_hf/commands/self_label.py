"""`halsted self-label --model M --videos DIR_OR_LIST --out ATLAS_V2 [--base ATLAS_V1] [--precision 0.9]`:
a trained model labels unlabelled videos; its confident outputs become atlas rows (training/self_label.py).

The thresholds (one per tag) are chosen on the model's validation videos, recorded in M's fold folder by
`halsted train`; a model without that record needs `--calibration-atlas`. Run it again after an
interruption: videos already labelled by this model are skipped.
"""

from __future__ import annotations


def configure(parser):
    parser.add_argument("--model", required=True,
                        help="model folder, e.g. RUN/fold-0/best from `halsted train` (or a name from "
                             "halsted_hf.model.registry, e.g. demo, with --calibration-atlas)")
    parser.add_argument("--videos", required=True, nargs="+", metavar="DIR_OR_LIST",
                        help="folder(s) of videos, text file(s) listing one video per line, or video files")
    parser.add_argument("--out", required=True,
                        help="output atlas: a folder (atlas.parquet + self_label.json) or a "
                             ".parquet/.csv file (+ FILE.self_label.json): --base rows + self-labels")
    parser.add_argument("--base", default=None,
                        help="atlas v1: its rows are copied into --out, and its human-labelled "
                             "videos are never relabelled")
    parser.add_argument("--precision", type=float, default=0.9,
                        help="precision each tag's self-labels must reach on the validation videos, in (0, 1] "
                             "(default 0.9)")
    parser.add_argument("--calibration-atlas", default=None,
                        help="human-labelled videos to choose thresholds on, when the model folder has no record of "
                             "its validation videos (they must not have trained the model)")
    parser.add_argument("--relabel-human", action="store_true",
                        help="also label videos that have human labels in --base")
    parser.add_argument("--mapping", default="full", help="one of the model's mapping plans (the demo model's: "
                        "suturing | dissection | full | procedure); default full: every task")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per model call")
    parser.add_argument("--chunk", type=int, default=4, help="videos mapped together; the atlas is written after each")


def mapper_for(model: str, mapping: str = "full", device: str = "cpu", batch_size: int = 32):
    """The multi-stage workflow as self_label's `mapper`: paths -> Timelines."""
    from ..core.errors import HalstedError
    from ..core.mappings import check_mapping
    from ..mapping.workflow import map_videos
    from ..model.registry import plans_of

    try:
        plans = plans_of(model)
    except HalstedError:  # a model that is not there: said where self-label checks it, in its own words
        plans = None
    if plans is not None:
        check_mapping(mapping, plans, model)
    return lambda paths: map_videos(list(paths), mapping=mapping, model=model, device=device, batch_size=batch_size)


def run(args) -> int:
    from ..training.self_label import check_precision, self_label

    check_precision(args.precision)  # before anything loads
    record = self_label(args.model, args.videos, args.out, mapper_for(args.model, args.mapping, args.device,
                                                                      args.batch_size),
                        base=args.base, precision=args.precision, calibration_atlas=args.calibration_atlas,
                        relabel_human=args.relabel_human, chunk=args.chunk, log=lambda m: print(m, flush=True))
    rows = sum(v.get("rows", 0) for v in record["videos"].values())
    print(f"wrote {record['table']} ({rows} self-label rows from {len(record['videos'])} video(s))")
    return 0
