"""What the dashboard and the Space say about the model behind a result, read from its card
(halsted_hf/model/model_card.py: summarise_card)."""

from __future__ import annotations

import os

from halsted_hf.model.model_card import summarise_card


def test_a_card_written_by_evaluate_model_gives_its_measured_accuracy(tmp_path):
    (tmp_path / "README.md").write_text(
        "---\nlibrary_name: transformers\n---\n# Halsted\n- Data: 40 real prostatectomies (site A)\n\n"
        "<!-- halsted-evaluate: begin -->\n## Evaluation\n\nTest videos: 3; clips (mapping windows): 90.\n\n"
        "| task | tag answers | accuracy % | majority % | chance % |\n| --- | --- | --- | --- | --- |\n"
        "| macro-activity | 60 | 81.7 (70.0-90.1) | 50.0 | 6.2 |\n| proficiency | 30 | 66.0 | n/a | 50.0 |\n\n"
        "<!-- halsted-evaluate: end -->\n")
    card = summarise_card("real-model", "abc", str(tmp_path))
    assert card.accuracy == "accuracy macro-activity 82%, proficiency 66% on 3 held-out test videos"
    assert card.trained_on == "40 real prostatectomies" and not card.synthetic


def test_the_bundled_demo_models_card_says_synthetic_training_data_and_its_accuracy():
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    card = summarise_card("demo-model", "r", DEMO_MODEL_PATH)
    assert card.synthetic and card.trained_on == "432 synthetic videos x 2 min, the mapping windows."
    # the task table's figures as `halsted evaluate` wrote them into the card (the tag table follows it)
    import re

    text = open(os.path.join(DEMO_MODEL_PATH, "README.md"), encoding="utf-8").read()
    table = text[text.index("| task | tag answers |"):text.index("| tag | clips |")]
    rows = re.findall(r"^\| ([a-z-]+) \| \d+ \| ([\d.]+) \(", table, re.M)
    assert len(rows) == 4
    assert card.accuracy == ("accuracy " + ", ".join(f"{t} {float(a):.0f}%" for t, a in rows)
                             + " on 12 held-out test videos")
    assert card.link is None and "Demo checkpoint" in card.text


def test_a_hub_model_links_to_its_card_and_a_missing_one_says_not_known_here():
    card = summarise_card("org/halsted-base", "hub", None)
    assert card.link == "https://huggingface.co/org/halsted-base" and card.trained_on.startswith("not known here")
