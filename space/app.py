"""Halsted on a Hugging Face Space: upload a surgical video, pick a mapping, get its timeline.

The model loads once, at start-up: `HALSTED_MODEL` (a registered name such as `demo`, a folder or a Hub id;
halsted_hf/model/registry.py) or the bundled demo model.
Two ways in:
- the page: video -> progress -> timeline figure, table of segments, video with the tags as
  subtitles, and the Timeline JSON to download;
- the API: `/map_video` (declared with `gr.api`, no components behind it) takes (video file, mapping name) and
  returns the Timeline JSON text. This is what `halsted_hf.platform.inference.SpaceBackend` (the dashboard's
  remote backend) calls:

      from gradio_client import Client, handle_file
      Client("ORG/halsted").predict(handle_file("case.mp4"), "suturing", api_name="/map_video")

Bad input (no file, not a video, an unknown mapping) is a `gr.Error` carrying the HalstedError's
message, so the page and the API client both show one clear line, never a stack trace.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path

import gradio as gr
import torch
from gradio.data_classes import FileData

from halsted_hf import plots
from halsted_hf.core.errors import HalstedError, TaskError
from halsted_hf.mapping import reliability
from halsted_hf.mapping.headline import OUT_OF_DISTRIBUTION, is_out_of_distribution
from halsted_hf.mapping.timeline import Timeline
from halsted_hf.core.mappings import check_mapping
from halsted_hf.mapping.workflow import load_model
from halsted_hf.mapping.workflow import map_video as map_timeline
from halsted_hf.model.registry import resolve as resolve_model
from halsted_hf.model.model_card import SYNTHETIC_LABEL, find_model_folder, summarise_card

try:  # ZeroGPU: a GPU is attached only while a @spaces.GPU function runs
    import spaces
except ImportError:  # off Hugging Face: a no-op decorator with the same call forms
    class spaces:  # noqa: N801 - stands in for the module
        @staticmethod
        def GPU(task=None, **_kwargs):
            return task if callable(task) else (lambda fn: fn)

log = logging.getLogger("halsted.space")
HERE = Path(__file__).resolve().parent
# On ZeroGPU, CUDA "is available" at start-up: weights moved there now are placed on the GPU
# each time a @spaces.GPU call starts.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MODEL = resolve_model(os.environ.get("HALSTED_MODEL") or None)  # a name, a folder or a Hub id (the registry)
ENGINE = load_model(MODEL, device=DEVICE)  # the model, loaded once
CARD = summarise_card(ENGINE.name, ENGINE.revision, find_model_folder(ENGINE.name, [MODEL]))
reliability.for_model(MODEL)  # a broken reliability.json: refused when the Space starts, not at the first video
PLANS = ENGINE.taxonomy.mapping_plans()  # what this model maps (its taxonomy's plans)
DEFAULT_MAPPING = next(iter(PLANS))


def model_line(card) -> str:
    """What the page says about the model behind a result: name, training data, accuracy, the card,
    and the synthetic label for the demo model."""
    link = f" · [model card]({card.link})" if card.link else ""
    text = (f"**Model** `{card.name}` (revision {card.revision}) · **trained on** {card.trained_on} · "
            f"**measured** {card.accuracy}{link}")
    if card.synthetic:
        text += f"\n\n**⚠ {SYNTHETIC_LABEL}**"
    return text


# ---- the mapping function (the API endpoint) -----------------------------------------------------

def _check_inputs(video, mapping) -> str:
    """The video's path, or a gr.Error saying what to fix."""
    try:
        check_mapping(mapping, PLANS, ENGINE.name)
    except TaskError as err:
        raise gr.Error(str(err), print_exception=False) from None
    if isinstance(video, dict):  # the API's upload (gradio_client's handle_file sends a FileData dict)
        video = video.get("path") or video.get("video")
    elif isinstance(video, FileData):
        video = video.path
    if not video:
        raise gr.Error("No video: upload a surgical video (MP4, MOV, MKV, ...) or pick an example.",
                       print_exception=False)
    return str(video)


def gpu_seconds(video, mapping, progress=None) -> int:
    """ZeroGPU time to reserve for one call, in seconds: a fixed start-up cost plus the video's
    length (decoding dominates: about one minute per 10 minutes of video), capped so a long
    video is still accepted by the scheduler."""
    try:
        from halsted_hf.video.probe import probe_video

        duration_s = probe_video(_check_inputs(video, mapping)).duration_s
    except Exception:  # noqa: BLE001 - bad input fails later with its own clear message
        return 30
    return int(min(1500, 30 + duration_s / 10))


@spaces.GPU(duration=gpu_seconds)
def map_to_json(video, mapping, progress) -> str:
    """(video file path or FileData, mapping name, gr.Progress) -> the Timeline JSON (text)."""
    path = _check_inputs(video, mapping)

    def report(done: int, total: int) -> None:
        progress((done, total), desc="mapping windows", unit="windows")

    try:
        timeline = map_timeline(path, mapping=mapping, model=ENGINE, device=DEVICE, progress=report)
    except HalstedError as err:  # name the upload as the user knows it, not by its server-side path
        raise gr.Error(str(err).replace(path, Path(path).name), print_exception=False) from err
    except Exception as err:  # a bug, not bad input: log it, show one line
        log.exception("mapping %s failed", path)
        raise gr.Error(f"Mapping failed ({type(err).__name__}: {err}). Try another video; if it keeps "
                       "failing, report it with the Space's logs.", print_exception=False) from err
    return timeline.to_json()


def map_video(video: FileData, mapping: str = DEFAULT_MAPPING) -> str:
    """Map a surgical video: (video file, mapping name: one of the model's plans, for the demo model suturing |
    dissection | full | procedure) -> the Timeline JSON (text). The API endpoint (`gr.api` reads its parameters
    from these type hints; a gr.Progress made here reports to the caller's event all the same, through gradio's
    context)."""
    return map_to_json(video, mapping, gr.Progress())


# ---- what the page shows ---------------------------------------------------------------------

def timeline_figure(timeline: Timeline):
    """The dashboard's timeline figure (halsted_hf/plots.py): same colours, legend and gaps."""
    return plots.timeline_figure(timeline).figure


def map_and_show(video, mapping, progress=gr.Progress()):
    """The page's handler: map, then figure, table, subtitled video, the JSON file and the model's line."""
    text = map_to_json(video, mapping, progress)
    timeline = Timeline.from_json(text)
    out_dir = Path(tempfile.mkdtemp(prefix="halsted-"))
    stem = Path(_check_inputs(video, mapping)).stem
    json_path = out_dir / f"{stem}.timeline.json"
    json_path.write_text(text + "\n", encoding="utf-8")
    vtt_path = out_dir / f"{stem}.vtt"
    timeline.to_webvtt(str(vtt_path))
    table = plots.segments_table(timeline)  # confidence in words; raw probabilities are in the JSON
    card = CARD if timeline.model.get("name") == CARD.name else summarise_card(
        str(timeline.model.get("name")), str(timeline.model.get("revision")), None)
    return (timeline_figure(timeline), table, gr.Video(value=video, subtitles=str(vtt_path)),
            str(json_path), ood_banner(timeline) + reliability_banner(timeline) + model_line(card))


def ood_banner(timeline: Timeline) -> str:
    """The out-of-distribution warning (halsted_hf/mapping/ood.py) above the model's line, or nothing."""
    warning = timeline.ood_warning()
    label = f"{OUT_OF_DISTRIBUTION}. " if is_out_of_distribution(timeline.ood) else ""
    return f"> **Warning:** {label}{warning}\n\n" if warning else ""


def reliability_banner(timeline: Timeline) -> str:
    """The tags the model's card marks not reliable (the timeline and the table mark them too), each with its
    reason; nothing when there are none."""
    rel = reliability.of_timeline(timeline)
    if not rel.unreliable:
        return ""
    why = "\n".join(f"> - **{tag}**: {rel.reason(tag)}" for tag in rel.unreliable)
    return (f"> **{reliability.NOT_RELIABLE.capitalize()}** on this model's held-out videos (marked in the timeline "
            f"and the table): {', '.join(rel.unreliable)}\n>\n{why}\n\n")


def example_videos() -> list:
    """Bundled examples (space/examples/*.mp4), else one synthetic suturing case rendered now
    (a minute of halsted_hf.data.synthetic surgery; ffmpeg's test pattern if that fails)."""
    bundled = sorted((HERE / "examples").glob("*.mp4"))
    if bundled:
        return [str(p) for p in bundled]
    out = Path(tempfile.gettempdir()) / "halsted-space-example.mp4"
    if out.exists():
        return [str(out)]
    try:
        from halsted_hf.data.synthetic.render import render_video
        from halsted_hf.data.synthetic.script import plan_atlas

        render_video(plan_atlas(videos=1, minutes=1.0, seed=0)[0], str(out), size=(160, 120))
        return [str(out)]
    except Exception:  # noqa: BLE001 - an example is a convenience, never a reason not to start
        log.warning("could not render a synthetic example", exc_info=True)
    from halsted_hf.core.io import atomic_path, ffmpeg_exe

    try:
        with atomic_path(str(out)) as tmp:
            cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=40",
                   "-pix_fmt", "yuv420p", "-c:v", "libx264", tmp]
            subprocess.run(cmd, capture_output=True, check=True)
    except subprocess.CalledProcessError:
        return []
    return [str(out)]


# ---- the page ------------------------------------------------------------------------------

with gr.Blocks(title="Halsted: map surgery from video") as demo:
    gr.Markdown(
        "# Halsted: map surgery from video\n"
        "Upload an operative video and choose what to map. Halsted finds the surgical steps "
        "(30-second windows), then maps the chosen activity inside them (2-5 second windows): "
        "actions, instruments, arms, suturing phases, proficiency, anatomy, stitch direction. "
        "**Research use only: not a medical device.**\n\n" + model_line(CARD))
    if CARD.text and not CARD.link:
        with gr.Accordion("Model card", open=False):
            gr.Markdown(CARD.text)
    with gr.Row():
        with gr.Column():
            video_in = gr.Video(label="Surgical video", sources=["upload"])
            mapping_in = gr.Radio(list(PLANS), value=DEFAULT_MAPPING, label="Mapping",
                                  info="; ".join(plan.description for plan in PLANS.values()))
            run_btn = gr.Button("Map the video", variant="primary")
            examples = example_videos()
            if examples:
                gr.Examples([[v, DEFAULT_MAPPING] for v in examples], inputs=[video_in, mapping_in])
        with gr.Column():
            video_out = gr.Video(label="Video with the tags as subtitles", interactive=False)
            json_out = gr.File(label="Timeline JSON", interactive=False)
    result_model_out = gr.Markdown()  # which model produced the result below
    plot_out = gr.Plot(label="Timeline")
    table_out = gr.Dataframe(label="Segments", interactive=False, wrap=True)

    run_btn.click(map_and_show, [video_in, mapping_in], [plot_out, table_out, video_out, json_out, result_model_out],
                  api_visibility="private")

    # The API endpoint: a plain file in (no browser-format conversion of the upload), JSON text out; its
    # parameters and types come from map_video's signature (gr.api), no hidden components.
    gr.api(map_video, api_name="map_video")


if __name__ == "__main__":
    demo.queue(default_concurrency_limit=1).launch()
