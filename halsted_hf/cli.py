"""The `halsted` command. Each subcommand lives in its own module with `configure(parser)` and
`run(args) -> int`; modules are imported only when their command runs, so `halsted --help` is instant.

Errors a user can fix (bad paths, non-videos, unknown names) are raised as `HalstedError` and printed
as one line on stderr with exit status 2: no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from .core.errors import HalstedError

# name -> (module, one-line help)
COMMANDS = {
    "init-model": ("halsted_hf.commands.init_model",
                   "write a randomly initialised model (tiny|paper|lite0|lite1|lite2) in the Hub layout"),
    "convert-backbone": ("halsted_hf.commands.convert_backbone",
                         "write a starting model with a pretrained EfficientNet-Lite frame encoder"),
    "convert-weights": ("halsted_hf.commands.convert_weights",
                        "write a model folder's pickle weights (pytorch_model.bin) as model.safetensors"),
    "convert-videomae": ("halsted_hf.commands.convert",
                         "load a local VideoMAEv2 checkpoint into a Halsted model's encoder"),
    "synth": ("halsted_hf.commands.synth", "render synthetic surgical videos with ground truth and an atlas"),
    "features": ("halsted_hf.commands.features", "cache the frozen encoder's clip embeddings for an atlas"),
    "pretrain-encoder": ("halsted_hf.commands.pretrain_encoder",
                         "pretrain a small VideoMAE encoder (masked autoencoding) on unlabelled video"),
    "train": ("halsted_hf.commands.train", "joint multitask training (with Monte-Carlo cross-validation)"),
    "baseline": ("halsted_hf.commands.baseline", "train the SAIS-style baseline (a model per task) on a run's folds"),
    "evaluate": ("halsted_hf.commands.evaluate",
                 "evaluate a run or a model folder: accuracy, AUROC, temporal F1 with 95%% CIs"),
    "fit-ood": ("halsted_hf.commands.fit_ood",
                "describe the frames a model was trained on, so mapping can warn when a video looks unlike them"),
    "self-label": ("halsted_hf.commands.self_label",
                   "label unlabelled videos with a trained model's confident outputs (atlas v1 -> v2)"),
    "map": ("halsted_hf.commands.map_video", "map a video into a Timeline (JSON, CSV, WebVTT)"),
    "map-archive": ("halsted_hf.commands.map_archive",
                    "map a folder of videos on Ray into one resumable archive (Parquet)"),
    "archive-summary": ("halsted_hf.commands.archive_summary",
                        "tables over a mapped archive: steps, phases, stitches, proficiency"),
    "overlay": ("halsted_hf.commands.overlay", "draw a Timeline's tags on a copy of the video"),
    "deidentify": ("halsted_hf.commands.deidentify",
                   "a copy without out-of-body stretches, faces, metadata and audio, plus a report"),
    "fit-out-of-body": ("halsted_hf.commands.fit_out_of_body",
                        "train and measure the out-of-body classifier de-identification uses"),
    "serve": ("halsted_hf.commands.serve", "start the dashboard and a worker on the embedded default"),
    "worker": ("halsted_hf.commands.worker", "run mapping jobs from the dashboard's database"),
    "export-labels": ("halsted_hf.commands.export_labels",
                      "write surgeons' dashboard corrections as atlas rows for training"),
    "publish": ("halsted_hf.commands.publish", "push a model (weights, tokenizer, processor, code, card) to the Hub"),
    "publish-space": ("halsted_hf.commands.publish", "push the Gradio Space files to the Hub"),
}


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="halsted", description="Halsted maps surgery from video.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        # `help` goes through %-formatting (hence "%%" in the table), `description` does not
        p = sub.add_parser(name, help=help_text, description=help_text.replace("%%", "%"))
        if only == name:  # configure just the command being run: imports stay lazy
            module = importlib.import_module(module_name)
            configure = getattr(module, f"configure_{name.replace('-', '_')}", None) or module.configure
            configure(p)
            p.set_defaults(_run=getattr(module, f"run_{name.replace('-', '_')}", None) or module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 0 if not argv or argv[0] in ("-h", "--help") else 2
        return int(args._run(args) or 0)
    except HalstedError as err:
        print(f"halsted {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"halsted {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
