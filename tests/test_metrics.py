"""Metrics against reference implementations (scikit-learn; plain re-implementations written here with
straightforward loops) on random inputs, and against hand-worked cases."""

import math
import random

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from halsted_hf.evaluation import (accuracy, auroc, bootstrap_ci, edit_score, match_segments, segmental_counts,
                                   segmental_f1_at_k, segments_from_labels, temporal_f1)


# ---- plain references (deliberately different from the library: full DP table, per-frame runs) ----------
def ref_runs(labels, bg=()):
    segs = []
    for i, lab in enumerate(labels):
        if segs and segs[-1][2] == lab and segs[-1][1] == i:
            segs[-1][1] = i + 1
        else:
            segs.append([i, i + 1, lab])
    return [tuple(s) for s in segs if s[2] not in bg]


def ref_f1_at_k(truth, pred, k, bg=()):
    t = ref_runs(truth, bg)
    p = ref_runs(pred, bg)
    used = [False] * len(t)
    tp = fp = 0
    for ps, pe, pl in p:
        best_iou, best_j = None, None
        for j, (ts, te, tl) in enumerate(t):
            if tl != pl:
                continue
            inter = max(0, min(pe, te) - max(ps, ts))
            union = (pe - ps) + (te - ts) - inter
            iou = inter / union
            if best_iou is None or iou > best_iou:
                best_iou, best_j = iou, j
        if best_j is not None and best_iou >= k and not used[best_j]:
            used[best_j] = True
            tp += 1
        else:
            fp += 1
    fn = used.count(False)
    if tp == 0:
        return 0.0
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return 100 * 2 * precision * recall / (precision + recall)


def ref_edit(truth, pred, bg=()):
    a = [s[2] for s in ref_runs(pred, bg)]
    b = [s[2] for s in ref_runs(truth, bg)]
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        table[i][0] = i
    for j in range(len(b) + 1):
        table[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
    return (1 - table[-1][-1] / max(len(a), len(b))) * 100


def random_frames(rng, n, labels, mean_run):
    out = []
    while len(out) < n:
        out += [rng.choice(labels)] * rng.randint(1, 2 * mean_run)
    return out[:n]


# ---- accuracy -------------------------------------------------------------------------------------------
def test_accuracy_hand_worked():
    # truths a, b, None, c: the None truth is left out -> 3 graded; hits: a=a yes, b/x no, c/None no -> 1/3
    assert accuracy(["a", "b", None, "c"], ["a", "x", "b", None]) == pytest.approx(1 / 3)
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == pytest.approx(0.75)
    assert accuracy(["a"], [float("nan")]) == 0.0
    assert math.isnan(accuracy([None], ["a"]))
    # tuple categories and pandas columns with missing values: same rule
    assert accuracy([("a", 1), ("b", 2)], [("a", 1), None]) == 0.5
    assert accuracy(pd.Series(["a", None, "c"], dtype="string"), pd.Series(["a", "b", pd.NA], dtype="string")) == 0.5
    with pytest.raises(ValueError):
        accuracy(["a", "b"], ["a"])


def test_accuracy_matches_numpy_on_random():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 5, 500)
    p = rng.integers(0, 5, 500)
    expected = float(np.mean(t == p))
    assert accuracy(t, p) == pytest.approx(expected)
    assert accuracy([str(x) for x in t], [str(x) for x in p]) == pytest.approx(expected)


# ---- AUROC ----------------------------------------------------------------------------------------------
def test_auroc_hand_worked():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: pairs won 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3 of 4
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # ties count one half: pos 0.5 vs neg 0.5 -> 0.5, vs 0.2 -> 1; pos 0.9 -> 1 + 1; (0.5+1+1+1)/4
    assert auroc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)
    assert auroc([True, False], [0.2, 0.7]) == 0.0
    assert math.isnan(auroc([1, 1, 1], [0.1, 0.2, 0.3]))
    with pytest.raises(ValueError):
        auroc([0, 2], [0.1, 0.2])


@pytest.mark.parametrize("seed", range(8))
def test_auroc_equals_sklearn_on_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    scores = rng.random(n) + 0.3 * y
    if seed % 2:  # many ties
        scores = np.round(scores, 1)
    assert auroc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


# ---- segments and temporal F1 ---------------------------------------------------------------------------
def test_segments_from_labels():
    assert segments_from_labels(list("aabbba")) == [(0, 2, "a"), (2, 5, "b"), (5, 6, "a")]
    assert segments_from_labels(list("aabbba"), ignore=("b",)) == [(0, 2, "a"), (5, 6, "a")]
    assert segments_from_labels([]) == []


def test_temporal_f1_hand_worked():
    true = [(0, 10, "x"), (10, 20, "y")]
    pred = [(0, 1, "x"), (12, 30, "y"), (5, 9, "x")]
    # IoUs: p0-t0 = 1/10 = 0.1; p2-t0 = 4/10 = 0.4; p1-t1 = 8/20 = 0.4. Greedy by IoU: t0-p2, t1-p1;
    # then p0 finds t0 used -> tp 2, fp 1, fn 0 -> F1 = 2*2 / (2*2 + 1 + 0) = 0.8
    assert match_segments(true, pred) == (2, 1, 0)
    assert temporal_f1(true, pred) == pytest.approx(0.8)
    # at 50% nothing matches: tp 0, fp 3, fn 2 -> 0
    assert temporal_f1(true, pred, overlap=0.5) == 0.0
    # greedy by IoU, not by order: p(0,2) IoU 0.2 comes first in the list, p(0,8) IoU 0.8 wins t0;
    # tp 1, fp 1, fn 0 -> 2/3
    assert match_segments([(0, 10, "x")], [(0, 2, "x"), (0, 8, "x")]) == (1, 1, 0)
    assert temporal_f1([(0, 10, "x")], [(0, 2, "x"), (0, 8, "x")]) == pytest.approx(2 / 3)
    # labels must agree
    assert temporal_f1([(0, 10, "x")], [(0, 10, "y")]) == 0.0
    assert math.isnan(temporal_f1([], []))


def test_temporal_f1_with_exactly_ten_percent_overlap_counts():
    # IoU exactly 0.1: 1 s of overlap over a 10 s union -> the paper's ">= 10%" is a match
    assert temporal_f1([(0.0, 10.0, "a")], [(9.0, 10.0, "a")]) == 1.0


# ---- segmental F1@k and edit score ----------------------------------------------------------------------
def test_segmental_f1_and_edit_hand_worked():
    truth = list("aaaabbbbcc")  # a[0,4) b[4,8) c[8,10)
    pred = list("aaaaaaaabb")   # a[0,8) b[8,10)
    # a/a: IoU 4/8 = 0.5 -> hit at k <= 0.5; b[8,10) vs b[4,8): no overlap -> fp; b, c missed.
    # tp 1, fp 1, fn 2 -> F1 = 2/(2+1+2) = 0.4 -> 40
    for k in (0.10, 0.25, 0.50):
        assert segmental_f1_at_k(truth, pred, k) == pytest.approx(40.0)
    assert segmental_counts(truth, pred, 0.5) == (1, 1, 2)
    # edit: [a, b] vs [a, b, c] -> one insertion over max length 3 -> (1 - 1/3) * 100
    assert edit_score(truth, pred) == pytest.approx(200 / 3)


def test_segmental_f1_repeated_hit_is_false_positive():
    truth = list("aaaaaaaaaa")  # one segment a[0,10)
    pred = list("aaaaabaaaa")   # a[0,5) IoU .5 hit; b fp; a[6,10) IoU .4 but t0 already hit -> fp
    # tp 1, fp 2, fn 0 -> 2/(2+2) = 0.5 -> 50 ; edit: [a,b,a] vs [a] -> 2 edits / 3 -> 33.3
    assert segmental_f1_at_k(truth, pred, 0.1) == pytest.approx(50.0)
    assert edit_score(truth, pred) == pytest.approx(100 / 3)
    assert segmental_f1_at_k(truth, truth, 0.5) == 100.0
    assert edit_score(truth, truth) == 100.0


@pytest.mark.parametrize("seed", range(25))
def test_segmental_f1_and_edit_equal_plain_reference(seed):
    rng = random.Random(seed)
    labels = ["a", "b", "c", "bg"][: rng.randint(2, 4)]
    n = rng.randint(1, 300)
    truth = random_frames(rng, n, labels, rng.randint(2, 30))
    pred = random_frames(rng, n, labels, rng.randint(1, 30))
    if seed % 3 == 0:  # a prediction close to the truth, with a few flipped frames
        pred = [rng.choice(labels) if rng.random() < 0.05 else t for t in truth]
    bg = ("bg",) if seed % 2 else ()
    for k in (0.10, 0.25, 0.50):
        ours = segmental_f1_at_k(truth, pred, k, ignore=bg)
        if math.isnan(ours):  # only background in both: the reference would divide by zero
            assert not ref_runs(truth, bg) and not ref_runs(pred, bg)
            continue
        assert ours == pytest.approx(ref_f1_at_k(truth, pred, k, bg))
    if ref_runs(truth, bg) or ref_runs(pred, bg):
        assert edit_score(truth, pred, ignore=bg) == pytest.approx(ref_edit(truth, pred, bg))


# ---- bootstrap ------------------------------------------------------------------------------------------
def test_bootstrap_is_deterministic_and_brackets_the_point():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.7, t, rng.integers(0, 3, 300))
    a = bootstrap_ci(accuracy, t, p, n_boot=300, seed=3)
    b = bootstrap_ci(accuracy, t, p, n_boot=300, seed=3)
    assert a == b
    point, low, high = a
    assert point == pytest.approx(accuracy(t, p))
    assert low < point < high


def test_bootstrap_ci_of_a_mean_matches_the_normal_approximation():
    x = np.random.default_rng(5).normal(10.0, 2.0, 2000)
    point, low, high = bootstrap_ci(np.mean, x, n_boot=1000)
    half = 1.96 * x.std() / np.sqrt(len(x))  # about 0.088
    assert point == pytest.approx(x.mean())
    assert low == pytest.approx(point - half, abs=0.02)
    assert high == pytest.approx(point + half, abs=0.02)


def test_bootstrap_by_groups_resamples_whole_groups():
    # two videos: every clip of video A wrong, every clip of B right. Per clip the mean of 200 is tight
    # around 0.5; per video a replicate is 0, 0.5 or 1 (A twice: p = 1/4) -> the 95% interval is [0, 1].
    y = np.array([0] * 100 + [1] * 100)
    videos = ["A"] * 100 + ["B"] * 100
    _, low_s, high_s = bootstrap_ci(np.mean, y, n_boot=500)
    assert 0.4 < low_s < 0.5 < high_s < 0.6
    assert bootstrap_ci(np.mean, y, n_boot=500, groups=videos) == (0.5, 0.0, 1.0)


def test_bootstrap_drops_undefined_replicates_and_checks_lengths():
    # 1 positive in 6: many replicates draw no positive -> AUROC NaN, left out; the rest are 0 or 1
    point, low, high = bootstrap_ci(auroc, [1, 0, 0, 0, 0, 0], [0.9, 0.1, 0.2, 0.3, 0.4, 0.5], n_boot=200)
    assert point == 1.0 and low == 1.0 and high == 1.0
    with pytest.raises(ValueError):
        bootstrap_ci(accuracy, [1, 2], [1])
    with pytest.raises(ValueError):
        bootstrap_ci(np.mean, [1, 2], groups=["a"])
