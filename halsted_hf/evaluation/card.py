"""A model card's results, written from an evaluation report (`halsted evaluate --model DIR`), never by hand.

    report = evaluate_model(DIR, ATLAS, OUT)          # or json.load(open("OUT/report.json"))
    write_card_results(f"{DIR}/README.md", report, command="halsted evaluate --model DIR --atlas ATLAS")
    assert not card_mismatches(open(f"{DIR}/README.md").read(), fresh_report)

The block sits between two HTML comments, so writing it again replaces it and a test can regenerate it
from a fresh evaluation of the same weights and compare cell by cell (numbers within rounding).
"""

from __future__ import annotations

import os
import re
from typing import List, Optional

BEGIN = "<!-- halsted-evaluate: begin (written by halsted_hf.evaluation.card; do not edit) -->"
END = "<!-- halsted-evaluate: end -->"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _pct(ci) -> str:
    if not ci or ci[0] is None:
        return "n/a"
    if ci[1] is None:
        return f"{100 * ci[0]:.1f}"
    return f"{100 * ci[0]:.1f} ({100 * ci[1]:.1f}-{100 * ci[2]:.1f})"


def _auc(ci) -> str:
    if not ci or ci[0] is None:
        return "-"
    return f"{ci[0]:.3f}" if ci[1] is None else f"{ci[0]:.3f} ({ci[1]:.3f}-{ci[2]:.3f})"


def _summary(report: dict) -> tuple:
    name, run = next(iter(report["runs"].items()))
    return name, run, run["pooled"]


def card_results(report: dict, command: Optional[str] = None) -> str:
    """The card's results section (markdown, with its BEGIN/END markers) from an evaluation report dict."""
    name, run, s = _summary(report)
    lines = [BEGIN, "## Evaluation", ""]
    if command:
        lines += [f"Produced by `{command}`.", ""]
    lines += [f"Test videos: {len(s['test_videos'])}; clips (mapping windows): {s['n_clips']}; 95% CIs by bootstrap "
              f"over {s['ci_unit']}s. Majority = always answering the training clips' most frequent category"
              + ("." if any(t.get("chance_majority") for t in s["tasks"])
                 else f" ({s.get('majority_note') or 'not available'})."), ""]
    for w in run.get("warnings", []):
        lines += [f"**Warning: {w}.**", ""]
    # a task's accuracy is over its (clip, tag) answers; a tag's over the clips that carry it
    lines += ["| task | tag answers | accuracy % | majority % | chance % |", "| --- | --- | --- | --- | --- |"]
    for t in s["tasks"]:
        chance = f"{100 * t['chance_uniform']:.1f}" if t.get("chance_uniform") else "n/a"
        lines.append(f"| {t['task']} | {t['n']} | {_pct(t['accuracy'])} | {_pct(t.get('chance_majority'))} | {chance} |")
    lines += ["", "| tag | clips | accuracy % | majority % | AUROC |", "| --- | --- | --- | --- | --- |"]
    for t in s["tags"]:
        lines.append(f"| {t['tag']} | {t['n']} | {_pct(t['accuracy'])} | {_pct(t.get('majority_accuracy'))} | "
                     f"{_auc(t.get('auroc'))} |")
    return "\n".join(lines + ["", END])


def _block(text: str) -> Optional[str]:
    i, j = text.find(BEGIN), text.find(END)
    return text[i:j + len(END)] if i >= 0 and j > i else None


def write_card_results(card_path: str, report: dict, command: Optional[str] = None) -> str:
    """Put the results block into the card (replacing an earlier one, else appended); returns the path."""
    text = open(card_path, encoding="utf-8").read() if os.path.exists(card_path) else ""
    block, old = card_results(report, command), _block(text)
    text = text.replace(old, block) if old else text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = f"{card_path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, card_path)
    return card_path


def _last_place(number: str) -> float:
    return 10.0 ** -len(number.split(".")[1]) if "." in number else 1.0


def card_mismatches(card_text: str, report: dict, places: float = 1.0) -> List[str]:
    """Lines of the card's results block that a fresh `report` does not reproduce: text must be equal and
    each number within `places` units of its last printed digit (within rounding: 0.1 for a percentage,
    0.001 for an AUROC). [] when the card matches."""
    have = _block(card_text)
    if have is None:
        return ["the card has no results block written from `halsted evaluate --model`"]
    command = re.search(r"^Produced by `(.*)`\.$", have, re.MULTILINE)
    want = card_results(report, command.group(1) if command else None)
    have_lines, want_lines = have.splitlines(), want.splitlines()
    if len(have_lines) != len(want_lines):
        return [f"the results block has {len(have_lines)} lines, a fresh evaluation gives {len(want_lines)}"]
    out = []
    for a, b in zip(have_lines, want_lines):
        na, nb = _NUMBER.findall(a), _NUMBER.findall(b)
        same_text = _NUMBER.sub("#", a) == _NUMBER.sub("#", b) and len(na) == len(nb)
        if not same_text or any(abs(float(x) - float(y)) > places * _last_place(x) + 1e-9 for x, y in zip(na, nb)):
            out.append(f"card: {a!r} / fresh evaluation: {b!r}")
    return out
