"""A model card's results, written from an evaluation report (`halsted evaluate --model DIR`), never by hand.

    report = evaluate_model(DIR, ATLAS, OUT)          # or json.load(open("OUT/report.json"))
    write_card_results(f"{DIR}/README.md", report, command="halsted evaluate --model DIR --atlas ATLAS")
    assert not card_mismatches(open(f"{DIR}/README.md").read(), fresh_report)

The block sits between two HTML comments, so writing it again replaces it. Two comparisons of a fresh
evaluation with the card: `card_outside_ci` (every fresh figure inside the card's 95% CI: what a test asserts on
any machine) and `card_mismatches` (every number to its last digit: on the machine, software and precision the
card's "Produced on" line names; benchmarks/card_check.py runs it). A second block, written by
`write_card_spread`, shows the same model on more fresh seeds.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional

from ..core.io import atomic_write_text

BEGIN = "<!-- halsted-evaluate: begin (written by halsted_hf.evaluation.card; do not edit) -->"
END = "<!-- halsted-evaluate: end -->"
SPREAD_BEGIN = "<!-- halsted-spread: begin (written by halsted_hf.evaluation.card; do not edit) -->"
SPREAD_END = "<!-- halsted-spread: end -->"
PRODUCED_ON = "Produced on:"
_DIFF = re.compile(r"^([+-]\d+\.\d+) \(([+-]\d+\.\d+) to ([+-]\d+\.\d+)\)$")
_CELL = re.compile(r"^(-?\d+(?:\.\d+)?) \((-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)\)$")
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


def _points(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "-"
    return f"{100 * ci[0]:+.1f} ({100 * ci[1]:+.1f} to {100 * ci[2]:+.1f})"


def _reliable(t: dict) -> str:
    diff = t.get("minus_majority")
    if not diff or diff[1] is None:
        return "-"
    return "yes" if diff[1] > 0 else "**no**"


def _summary(report: dict) -> tuple:
    name, run = next(iter(report["runs"].items()))
    return name, run, run["pooled"]


def card_results(report: dict, command: Optional[str] = None) -> str:
    """The card's results section (markdown, with its BEGIN/END markers) from an evaluation report dict."""
    name, run, s = _summary(report)
    lines = [BEGIN, "## Evaluation", ""]
    if command:
        lines += [f"Produced by `{command}`.", ""]
    if report.get("environment"):
        from .environment import one_line

        lines += [f"{PRODUCED_ON} {one_line(report['environment'])}.", ""]
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
        lines.append(f"| {t['task']} | {t['n']} | {_pct(t['accuracy'])} | {_pct(t.get('chance_majority'))} "
                     f"| {chance} |")
    # reliable: the paired difference from the majority is above 0 with its CI (evaluation/tag_reliability.py);
    # front ends mark the other tags "not reliable"
    lines += ["", "| tag | clips | accuracy % | majority % | minus majority (paired) | reliable | AUROC |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in s["tags"]:
        lines.append(f"| {t['tag']} | {t['n']} | {_pct(t['accuracy'])} | {_pct(t.get('majority_accuracy'))} | "
                     f"{_points(t.get('minus_majority'))} | {_reliable(t)} | {_auc(t.get('auroc'))} |")
    return "\n".join(lines + ["", END])


def _block(text: str, begin: str = BEGIN, end: str = END) -> Optional[str]:
    i, j = text.find(begin), text.find(end)
    return text[i:j + len(end)] if i >= 0 and j > i else None


def _put_block(card_path: str, block: str, begin: str, end: str) -> str:
    text = open(card_path, encoding="utf-8").read() if os.path.exists(card_path) else ""
    old = _block(text, begin, end)
    text = text.replace(old, block) if old else text.rstrip("\n") + "\n\n" + block + "\n"
    return atomic_write_text(card_path, text)


def write_card_results(card_path: str, report: dict, command: Optional[str] = None) -> str:
    """Put the results block into the card (replacing an earlier one, else appended); returns the path."""
    return _put_block(card_path, card_results(report, command), BEGIN, END)


def card_spread(reports: Dict[str, dict], command: Optional[str] = None) -> str:
    """The spread block: each task's and tag's accuracy on more fresh seeds ({label: report}), and their range."""
    labels = list(reports)
    pooled = {k: _summary(r)[2] for k, r in reports.items()}
    lines = [SPREAD_BEGIN, "## The same model on more fresh seeds", ""]
    if command:
        lines += [f"Produced by `{command}`.", ""]
    lines += ["Accuracy % on each seed's held-out videos (12 each; none trained or chose the model), and the range.",
              "",
              "| task or tag | " + " | ".join(labels) + " | range |", "|" + " --- |" * (len(labels) + 2)]
    for kind, key in (("tasks", "task"), ("tags", "tag")):
        for name in [row[key] for row in pooled[labels[0]][kind]]:
            values = [next((r["accuracy"][0] for r in pooled[k][kind] if r[key] == name), None) for k in labels]
            got = [v for v in values if v is not None]
            cells = [f"{100 * v:.1f}" if v is not None else "n/a" for v in values]
            spread = f"{100 * min(got):.1f}-{100 * max(got):.1f}" if got else "n/a"
            label = f"{name} (task)" if kind == "tasks" else name  # a task and a tag may share a name (proficiency)
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {spread} |")
    return "\n".join(lines + ["", SPREAD_END])


def write_card_spread(card_path: str, reports: Dict[str, dict], command: Optional[str] = None) -> str:
    return _put_block(card_path, card_spread(reports, command), SPREAD_BEGIN, SPREAD_END)


def _table_cells(block: str) -> Dict[tuple, str]:
    """{(table header, row name, column name): cell} of the block's markdown tables."""
    cells, header = {}, None
    for line in block.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        parts = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = parts
        elif not set("".join(parts)) <= set("- "):
            for col, cell in zip(header[1:], parts[1:]):
                cells[(header[0], parts[0], col)] = cell
    return cells


def card_outside_ci(card_text: str, report: dict) -> List[str]:
    """Figures of a fresh `report` that fall outside the card's 95% CI for them (accuracy, majority, AUROC, the
    paired difference); cells without a CI (counts, chance) must be equal. [] when the card holds. This is the
    comparison that holds across machines: the card's numbers are estimates over its videos, and a machine that
    rounds differently moves a few near-tied answers, not the estimate beyond its interval."""
    have = _block(card_text)
    if have is None:
        return ["the card has no results block written from `halsted evaluate --model`"]
    want_cells, have_cells = _table_cells(card_results(report)), _table_cells(have)
    out = []
    for key, card_cell in have_cells.items():
        fresh = want_cells.get(key)
        if fresh is None:
            out.append(f"{key[1]} / {key[2]}: on the card, not in a fresh evaluation")
            continue
        card_ci, fresh_ci = _CELL.match(card_cell), _CELL.match(fresh) or _DIFF.match(fresh)
        card_ci = card_ci or _DIFF.match(card_cell)
        if card_ci and fresh_ci:
            low, high = float(card_ci.group(2)), float(card_ci.group(3))
            if not low - 1e-9 <= float(fresh_ci.group(1)) <= high + 1e-9:
                out.append(f"{key[1]} / {key[2]}: fresh {fresh_ci.group(1)} outside the card's {card_cell}")
        elif key[2] != "reliable" and card_cell != fresh:
            out.append(f"{key[1]} / {key[2]}: card {card_cell!r}, fresh evaluation {fresh!r}")
    return out


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
        if a.startswith(PRODUCED_ON) and a != b:
            out.append(f"this machine is not the card's: {a!r} / here: {b!r} (compare with card_outside_ci)")
            continue
        na, nb = _NUMBER.findall(a), _NUMBER.findall(b)
        same_text = _NUMBER.sub("#", a) == _NUMBER.sub("#", b) and len(na) == len(nb)
        if not same_text or any(abs(float(x) - float(y)) > places * _last_place(x) + 1e-9 for x, y in zip(na, nb)):
            out.append(f"card: {a!r} / fresh evaluation: {b!r}")
    return out
