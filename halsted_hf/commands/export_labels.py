"""`halsted export-labels --surgeon EMAIL|--all --out ATLAS`: surgeons' dashboard corrections as atlas rows
(annotation_source "surgeon") that `halsted train --atlas ATLAS` reads directly (halsted_hf/platform/labels.py).

An operator's command: it reads the dashboard's database (HALSTED_DATABASE_URL / HALSTED_DATA_DIR, or the
flags below) across surgeons. Fine-tune a model on the export with
`halsted train --model MODEL_DIR --atlas ATLAS --out RUN --folds 1 --val-videos 0 --test-videos 0`.
"""

from __future__ import annotations

import os


def configure(parser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--surgeon", metavar="EMAIL", help="export this surgeon's corrections")
    who.add_argument("--all", action="store_true", help="export every surgeon's corrections")
    parser.add_argument("--out", required=True, metavar="ATLAS",
                        help="atlas folder (writes ATLAS/atlas.parquet) or a .parquet / .csv file")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: HALSTED_DATABASE_URL or the SQLite file in the data dir)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: HALSTED_DATA_DIR or ~/.halsted)")


def run(args) -> int:
    from ..data.atlas import write_atlas
    from ..core.io import atomic_write_text
    from ..core.errors import HalstedError
    from ..platform import Platform, Settings
    from ..platform.labels import export_rows, not_surgery_path

    platform = Platform(Settings.from_env(data_dir=args.data_dir, database_url=args.database_url))
    try:
        df, stretches = export_rows(platform, None if args.all else args.surgeon)
    finally:
        platform.dispose()
    who = "any surgeon" if args.all else args.surgeon
    if df.empty and stretches.empty:
        raise HalstedError(f"No corrections by {who} to export: nothing written. Surgeons correct results on the "
                           f"dashboard's Review page.")
    paths = set(df["video_path"]) | set(stretches["video_path"])
    missing = sorted(p for p in paths if not os.path.isfile(p))
    if missing:  # a training row must reach its video; say which are gone instead of writing rows that fail later
        df = df[~df["video_path"].isin(missing)].reset_index(drop=True)
        stretches = stretches[~stretches["video_path"].isin(missing)].reset_index(drop=True)
        print(f"warning: {len(missing)} video file(s) are missing from the data directory; their rows are left "
              f"out: {', '.join(missing[:3])}")
        if df.empty and stretches.empty:
            raise HalstedError("Every corrected video's file is missing from the data directory: nothing written.")
    path = args.out if args.out.endswith((".parquet", ".csv")) else os.path.join(args.out, "atlas.parquet")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atlas(df, path)  # possibly no rows (only not-surgery marks): an empty atlas, so --out always holds one
    results = set(df["result_id"]) | set(stretches["result_id"])
    surgeons = set(df["surgeon"]) | set(stretches["surgeon"])
    print(f"wrote {len(df)} clip window(s) from {len(results)} corrected result(s) of {len(surgeons)} surgeon(s) "
          f"to {path} (annotation_source surgeon)")
    if not stretches.empty:
        atomic_write_text(not_surgery_path(path), stretches.to_csv(index=False))
        print(f"wrote {len(stretches)} stretch(es) marked not surgery to {not_surgery_path(path)} (video, start, end: "
              f"time to leave out of training)")
    return 0
