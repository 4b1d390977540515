"""Training: splits hold whole videos out, the loss goes down, an interrupted run resumes, the best model loads."""

from __future__ import annotations

import json
import os

import pytest
import torch

from helpers import make_tiny_atlas

SMALL_VISION = dict(num_frames=8, image_size=32, patch_size=16, hidden_size=48, intermediate_size=96,
                    num_attention_heads=2, num_hidden_layers=1)


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    return make_tiny_atlas(str(tmp_path_factory.mktemp("atlas")))


@pytest.fixture(scope="module")
def start_model(tmp_path_factory):
    """A small random model saved in the Hub layout: every fold starts from it."""
    from halsted_hf.model.hub import build_model, save_hub_layout

    model, processor = build_model("tiny", seed=0, vision_config=SMALL_VISION, hidden_size=64, intermediate_size=128)
    return save_hub_layout(model, processor, str(tmp_path_factory.mktemp("start")))


def test_splits_hold_whole_videos_out():
    from halsted_hf.core.errors import HalstedError
    from halsted_hf.training.splits import monte_carlo_splits

    videos = [f"v{i}" for i in range(10)] * 3  # repeated ids: rows of the same video
    splits = monte_carlo_splits(videos, folds=5, val=2, test=1, seed=3)
    assert len(splits) == 5
    for s in splits:
        train, val, test = set(s["train"]), set(s["val"]), set(s["test"])
        assert len(val) == 2 and len(test) == 1 and len(train) == 7
        assert not (train & val or train & test or val & test)
        assert train | val | test == set(videos)
    assert len({tuple(s["test"]) for s in splits}) > 1  # folds differ
    assert splits == monte_carlo_splits(videos, folds=5, val=2, test=1, seed=3)  # seeded
    with pytest.raises(HalstedError, match="too few"):
        monte_carlo_splits(["a", "b"], folds=1, val=1, test=1)


def test_schedule_warms_up_from_a_tenth_then_decays():
    from halsted_hf.training.loop import lr_factor

    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(5, 10, 100) == pytest.approx(0.55)
    assert lr_factor(10, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == pytest.approx(0.0)


def _train(atlas, start_model, out, epochs, **kw):
    from halsted_hf.training.cv import run_cv
    from halsted_hf.training.trainer import TrainConfig

    cfg = TrainConfig(epochs=epochs, batch_size=4, lr=5e-3, warmup_epochs=1, seed=0)
    return run_cv(atlas, out, model_path=start_model, folds=1, val_videos=1, test_videos=1, cfg=cfg,
                  log=lambda m: None, **kw)


def test_checkpoint_rule_prefers_the_worst_task_then_the_mean():
    from halsted_hf.training.trainer import selection_key

    assert selection_key({"a": 0.5, "b": 0.9}, 1.0) > selection_key({"a": 0.4, "b": 1.0}, 1.0)  # worst first
    # one validation video: the worst task ties at 1/3, the better mean wins (it froze runs at epoch 2)
    assert selection_key({"a": 1 / 3, "b": 0.8}, 1.0) > selection_key({"a": 1 / 3, "b": 0.6}, 1.0)
    # a true tie keeps the first
    assert not selection_key({"a": 1 / 3, "b": 0.6}, 1.0) > selection_key({"a": 1 / 3, "b": 0.6}, 0.5)
    assert selection_key({}, 0.2) > selection_key({}, 0.3)  # no validation set: lower training loss


def test_training_learns_and_the_best_model_generates_valid_tags(atlas, start_model, tmp_path):
    from halsted_hf.model.registry import create
    from halsted_hf.model.taxonomy import HALSTED_TAXONOMY

    out = str(tmp_path / "run")
    result = _train(atlas, start_model, out, epochs=8)
    fold = os.path.join(out, "fold-0")
    metrics = json.load(open(os.path.join(fold, "metrics.json")))
    losses = [h["loss"] for h in metrics["history"]]
    assert len(losses) == 8 and metrics["done"]
    assert losses[-1] < 0.5 * losses[0]
    split = json.load(open(os.path.join(fold, "split.json")))
    assert metrics["train_videos"] == split["train"] and len(split["train"]) == 1
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["atlas"] == os.path.abspath(atlas) and "tasks" in run["taxonomy"]
    assert result["folds"][0]["best"]["epoch"] == max(
        (h for h in metrics["history"]), key=lambda h: (h["worst"], h["mean"], -h["epoch"]))["epoch"]

    model, processor = create(os.path.join(fold, "best"))
    from halsted_hf.training.data import encode_atlas
    from halsted_hf.data.feature_cache import load_cached
    from halsted_hf.data.windows import read_windows, window_lengths

    # the clips trained on are the mapping windows (the cache holds them), not the atlas's 1-s segments
    df = read_windows(atlas)
    assert run["clip_windows_s"] == window_lengths()
    # (6-s videos: the 30-s macro-activity window is the whole video, as `halsted map` maps a short video)
    assert ((df.end_s - df.start_s) == df.task.map(window_lengths()).clip(upper=6.0)).all()
    data = encode_atlas(df, processor, load_cached(df, run["cache"], model=model, processor=processor), 24)

    # beside the weights: what trained them (the majority baseline of `halsted evaluate --model`)
    record = json.load(open(os.path.join(fold, "best", "training_record.json")))
    train_rows = df[df.video_id.isin(split["train"])]
    assert record["train_videos"] == split["train"] and record["val_videos"] == split["val"]
    assert record["clips"] == train_rows.task.value_counts().to_dict()
    assert record["category_counts"]["proficiency"] == {
        c: int(n) for c, n in train_rows.tags.map(lambda t: json.loads(t).get("proficiency")).value_counts().items()}
    out_gen = model.generate(video_embeds=data.video, instruction_ids=data.instruction_ids,
                             instruction_mask=data.instruction_mask)
    for task, tags in zip(data.tasks, out_gen.tags):
        spec = HALSTED_TAXONOMY.task(task).tags
        assert set(tags) == set(spec)
        assert all(cat in spec[tag] for tag, cat in tags.items())


def test_interrupted_training_resumes_without_losing_an_epoch(atlas, start_model, tmp_path):
    out = str(tmp_path / "run")

    def interrupt(record):
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(atlas, start_model, out, epochs=5, on_epoch_end=interrupt)
    fold = os.path.join(out, "fold-0")
    state = torch.load(os.path.join(fold, "last", "state.pt"), weights_only=False)
    assert state["epoch"] == 3
    partial = json.load(open(os.path.join(fold, "metrics.json")))
    assert [h["epoch"] for h in partial["history"]] == [1, 2, 3] and not partial["done"]

    seen = []
    _train(atlas, start_model, out, epochs=5, on_epoch_end=lambda r: seen.append(r["epoch"]))
    assert seen == [4, 5]  # resumed after the last finished epoch
    metrics = json.load(open(os.path.join(fold, "metrics.json")))
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3, 4, 5] and metrics["done"]
    assert metrics["history"][:3] == partial["history"]

    # the resumed run ends where an uninterrupted one does (same batches, same RNG, same optimiser state)
    straight = str(tmp_path / "straight")
    _train(atlas, start_model, straight, epochs=5)
    ref = json.load(open(os.path.join(straight, "fold-0", "metrics.json")))
    assert [h["loss"] for h in metrics["history"]] == pytest.approx([h["loss"] for h in ref["history"]], rel=1e-4)

    again = []
    _train(atlas, start_model, out, epochs=5, on_epoch_end=lambda r: again.append(r))
    assert again == []  # a finished fold is skipped


def test_cli_train_rejects_a_too_small_atlas(atlas, tmp_path, capsys):
    from halsted_hf.cli import main

    code = main(["train", "--atlas", atlas, "--out", str(tmp_path / "r"), "--val-videos", "2", "--test-videos", "1"])
    assert code == 2 and "too few" in capsys.readouterr().err


def test_pretrain_encoder_changes_only_the_encoder_and_saves_a_loadable_model(atlas, start_model, tmp_path):
    from halsted_hf.model.registry import create
    from halsted_hf.training.pretrain_encoder import pretrain_encoder

    video = os.path.join(os.path.dirname(atlas), "v0.mp4")
    out = str(tmp_path / "pre")
    result = pretrain_encoder([video], out, model_path=start_model, clip_seconds=2.0, epochs=3, batch_size=3,
                              lr=1e-3, log=lambda m: None)
    assert result["clips"] == 3 and result["loss"][-1] < result["loss"][0]
    before, _ = create(start_model)
    after, _ = create(out)
    b, a = before.state_dict(), after.state_dict()
    assert any(not torch.equal(b[k], a[k]) for k in b if k.startswith("video_encoder."))
    assert all(torch.equal(b[k], a[k]) for k in b if not k.startswith("video_encoder."))


def test_sais_baseline_trains_one_model_per_task_with_its_own_encoder_and_evaluate_uses_it(atlas, start_model,
                                                                                          tmp_path, capsys):
    """--train-encoder run -> `halsted baseline`: a model per task, each from the same starting encoder, trained
    on the training videos only; `halsted evaluate --sais trained` scores them on the test videos."""
    from safetensors.torch import load_file

    from halsted_hf.cli import main
    from halsted_hf.model.registry import create

    out = str(tmp_path / "run")
    _train(atlas, start_model, out, epochs=2, train_encoder=True)
    code = main(["evaluate", "--run", out, "--sais", "trained", "--n-boot", "20", "--repr-points", "0"])
    assert code == 2 and "halsted baseline --run" in capsys.readouterr().err  # not trained yet: says what to do

    assert main(["baseline", "--run", out]) == 0
    fold = os.path.join(out, "fold-0")
    split = json.load(open(os.path.join(fold, "split.json")))
    start = create(start_model)[0].video_encoder.state_dict()
    halsted = create(os.path.join(fold, "best"))[0].video_encoder.state_dict()
    tasks = sorted(os.listdir(os.path.join(fold, "sais")))
    assert len(tasks) >= 2
    encoders = []
    for task in tasks:
        meta = json.load(open(os.path.join(fold, "sais", task, "meta.json")))
        assert meta["done"] and meta["encoder"] and meta["train_videos"] == split["train"]
        assert len(meta["history"]) == 2 and meta["best"]["epoch"] in (1, 2)
        weights = load_file(os.path.join(fold, "sais", task, "model.safetensors"))
        enc = {k[len("encoder."):]: v for k, v in weights.items() if k.startswith("encoder.")}
        assert enc.keys() == start.keys()
        assert any(not torch.equal(enc[k], start[k]) for k in start)  # it trained its own copy
        assert any(not torch.equal(enc[k], halsted[k]) for k in start)  # not Halsted's encoder
        encoders.append(enc)
    assert any(not torch.equal(encoders[0][k], encoders[1][k]) for k in start)  # separate parameters per task

    capsys.readouterr()
    assert main(["baseline", "--run", out]) == 0
    assert "already trained" in capsys.readouterr().out  # finished task models are kept

    report = str(tmp_path / "report")
    assert main(["evaluate", "--run", out, "--out", report, "--n-boot", "20", "--repr-points", "0"]) == 0
    rep = json.load(open(os.path.join(report, "report.json")))["runs"]["run"]
    assert rep["warnings"] == []  # trained on the mapping windows: nothing to warn about
    assert rep["sais_kind"] == "trained" and rep["baseline_train_videos"]["fold-0"] == split["train"]
    assert {c["task"] for c in rep["pooled"]["halsted_vs_sais"]} == {t["task"] for t in rep["pooled"]["tasks"]}
    assert "own encoder copy" in open(os.path.join(report, "REPORT.md")).read()


def test_sais_task_model_learns_from_embeddings_and_falls_back_to_training_loss_without_validation(tmp_path):
    """A frozen-embedding task model (no encoder) learns a separable tag; with no validation clip of its task
    the kept epoch is the one with the lowest training loss, and the validation fields say there was none."""
    from halsted_hf.model.taxonomy import HALSTED_TAXONOMY
    from halsted_hf.training.data import ClipData
    from halsted_hf.training.per_task import TaskModel, train_task_model
    from halsted_hf.training.trainer import TrainConfig

    spec = HALSTED_TAXONOMY.task("proficiency").tags
    gen = torch.Generator().manual_seed(0)

    def clips(n, video):
        level = torch.randint(0, 2, (n,), generator=gen)
        x = torch.randn(n, 16, generator=gen)
        # proficiency is linearly readable (half the dims: LayerNorm keeps it)
        x[:, :8] += 3.0 * level[:, None].float()
        tags = [{"phase": "driving", "proficiency": ["low", "high"][int(v)]} for v in level]
        z = torch.zeros(n, 1, dtype=torch.long)
        return ClipData(x, z, z, z, ["proficiency"] * n, tags, [video] * n)

    cfg = TrainConfig(epochs=6, batch_size=16, lr=3e-3, warmup_epochs=1)
    model = TaskModel(None, 16, spec, [0.5] * 3, [0.5] * 3)
    meta = train_task_model(model, "proficiency", clips(96, "a"), clips(32, "b"), str(tmp_path / "with-val"), cfg,
                            log=lambda m: None)
    assert meta["best"]["val_accuracy"] > 0.8 and meta["done"] and meta["train_videos"] == ["a"]

    empty = clips(0, "b")
    meta = train_task_model(TaskModel(None, 16, spec, [0.5] * 3, [0.5] * 3), "proficiency", clips(96, "a"), empty,
                      str(tmp_path / "no-val"), cfg, log=lambda m: None)
    losses = [h["loss"] for h in meta["history"]]
    assert meta["best"]["val_accuracy"] is None and all(h["val_accuracy"] is None for h in meta["history"])
    assert meta["best"]["epoch"] == 1 + losses.index(min(losses))
