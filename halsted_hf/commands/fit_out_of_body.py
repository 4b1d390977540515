"""`halsted fit-out-of-body --out DIR`: train Halsted's out-of-body classifier (halsted_hf/deid/fit.py says on
what), choose its threshold on validation material and measure it on held-out material; the measurements are
saved with it (out_of_body.json). A classifier trained with CholecT50 frames is CC BY-NC-SA material's
derivative: keep it for your own use, do not ship it; `--permissive-only` builds the shippable kind."""

from __future__ import annotations


def configure(parser) -> None:
    parser.add_argument("--out", required=True, help="the classifier folder to write")
    parser.add_argument("--cholect50", default=None,
                        help="a CholecT50 folder (videos/VIDxx/*.jpg): real in-body frames for training, validation "
                             "and the held-out test")
    parser.add_argument("--test-video", default=None,
                        help="the CholecT50 video held out for the test (default: the last)")
    parser.add_argument("--validation-video", default=None,
                        help="the CholecT50 video the threshold is chosen on (default: the one before the test video)")
    parser.add_argument("--permissive-only", action="store_true",
                        help="train and validate on permissively licensed material only (synthetic in-body frames, "
                             "scikit-image pictures); CholecT50 is then used for the test alone")
    parser.add_argument("--keep", type=float, default=0.995,
                        help="in-body validation frames the threshold must keep; it is the lowest that does, "
                             "so as many out-of-body frames as possible are removed (default 0.995)")


def run(args) -> int:
    from ..deid.fit import fit_out_of_body

    fit_out_of_body(args.out, cholect50=args.cholect50, test_video=args.test_video,
                    validation_video=args.validation_video, permissive_only=args.permissive_only, keep=args.keep)
    print(f"wrote {args.out}")
    return 0
