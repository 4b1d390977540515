"""The demo card, re-evaluated from its committed weights: to the last digit, and within its CIs.

    python benchmarks/card_check.py [--work DIR]            # compare: exit 1 if a digit differs on the card's machine
    python benchmarks/card_check.py --write [--work DIR]    # (re)write the card's numbers, spread and reliability.json

Renders the card's held-out videos from their seed (`halsted synth HELDOUT --videos 12 --minutes 2 --seed 201`),
runs `halsted evaluate --model halsted_hf/assets/demo-model` on them and compares with the card. The exact,
digit-for-digit comparison holds on the machine, software and precision the card's "Produced on" line names; on
another machine the command says so and reports the within-CI comparison that tests/test_demo_model.py asserts.
`--write` also evaluates the spread seeds (202-204) and writes each tag's reliability (evaluation/tag_reliability.py)
into the model folder. About 3 minutes per seed on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from build_demo_model import EVALUATE_COMMAND, HELDOUT_SEED, HELDOUT_VIDEOS, MINUTES, SPREAD_SEEDS  # noqa: E402

CARD_COMMAND = "python benchmarks/card_check.py --write"


def evaluate_seed(work: str, seed: int) -> dict:
    from halsted_hf.data.synthetic.build import render_atlas
    from halsted_hf.evaluation.end_to_end import evaluate_model
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    videos = os.path.join(work, f"heldout-s{seed}")
    atlas = render_atlas(videos, HELDOUT_VIDEOS, MINUTES, seed)
    return evaluate_model(DEMO_MODEL_PATH, atlas, os.path.join(work, f"evaluation-s{seed}"), max_repr_points=0,
                          log=lambda *_: None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--write", action="store_true", help="write the card, its spread and reliability.json")
    args = ap.parse_args(argv)

    from halsted_hf.evaluation.card import card_mismatches, card_outside_ci, write_card_results, write_card_spread
    from halsted_hf.evaluation.tag_reliability import write_reliability
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    work = args.work or tempfile.mkdtemp(prefix="halsted-card-")
    card = os.path.join(DEMO_MODEL_PATH, "README.md")
    report = evaluate_seed(work, HELDOUT_SEED)
    if args.write:
        write_card_results(card, report, command=EVALUATE_COMMAND)
        write_reliability(DEMO_MODEL_PATH, report, command=EVALUATE_COMMAND)
        spread = {f"seed {s}": evaluate_seed(work, s) for s in SPREAD_SEEDS}
        write_card_spread(card, {f"seed {HELDOUT_SEED} (card)": report, **spread}, command=CARD_COMMAND)
        print(f"wrote {card} and {os.path.join(DEMO_MODEL_PATH, 'reliability.json')}")
        return 0
    text = open(card, encoding="utf-8").read()
    exact, outside = card_mismatches(text, report), card_outside_ci(text, report)
    for line in exact:
        print(f"digit: {line}")
    for line in outside:
        print(f"outside CI: {line}")
    other_machine = any(line.startswith("this machine is not the card's") for line in exact)
    print(f"{len(exact)} line(s) differ to the digit{' (another machine)' if other_machine else ''}; "
          f"{len(outside)} figure(s) outside the card's CIs")
    return 1 if outside or (exact and not other_machine) else 0


if __name__ == "__main__":
    sys.exit(main())
