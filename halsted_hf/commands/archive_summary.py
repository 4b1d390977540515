"""`halsted archive-summary OUT`: tables over a mapped archive (time per step and phase by procedure,
stitches per procedure, proficiency share), printed and written to OUT/summary/*.parquet."""

from __future__ import annotations


def configure(parser) -> None:
    parser.add_argument("out", metavar="OUT", help="an archive folder written by `halsted map-archive`")
    parser.add_argument("--no-write", action="store_true", help="print the tables only")


def run(args) -> int:
    import pandas as pd

    from ..archive.summary import summarize, write_summary

    tables = summarize(args.out)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 3):
        for name, df in tables.items():
            print(f"== {name} ==")
            print(df.to_string(index=False) if len(df) else "(empty)")
            print()
    if not args.no_write:
        paths = write_summary(args.out, tables)
        print(f"wrote {len(paths)} tables to {args.out}/summary/ ({', '.join(f'{n}.parquet' for n in paths)})")
    return 0
