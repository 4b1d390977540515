"""`halsted publish` (a model to the Hub) and `halsted publish-space` (the Gradio Space).

Both take `--dry-run OUT`: write exactly the files a push would upload into OUT, push nothing.
"""

from __future__ import annotations


def _common(parser, kind: str) -> None:
    parser.add_argument("--repo-id", required=True, help=f"the {kind} repo on the Hub, ORG/NAME")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--dry-run", metavar="OUT", default=None,
                        help="write the files that would be uploaded into the new folder OUT; push nothing")
    parser.add_argument("--token", default=None, help="Hugging Face token with write access (default: HF_TOKEN "
                                                      "or the `hf auth login` token)")


def configure_publish(parser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="a saved Halsted model folder")
    _common(parser, "model")


def run_publish(args) -> int:
    from ..publish import list_files, prepare_model, publish_model

    if args.dry_run:
        out = prepare_model(args.model_dir, args.dry_run, args.repo_id)
        files = list_files(out)
        print(f"dry run: {len(files)} files for {args.repo_id} written to {out}: {', '.join(files)}")
        return 0
    url = publish_model(args.model_dir, args.repo_id, private=args.private, token=args.token)
    print(f"published {args.model_dir} to {url}")
    return 0


def configure_publish_space(parser) -> None:
    _common(parser, "Space")
    parser.add_argument("--model-repo", default=None,
                        help="the model the Space loads (ORG/NAME; sets HALSTED_MODEL and the card's models:); "
                             "default: the demo model bundled with the package")
    parser.add_argument("--hardware", default=None,
                        help="Space hardware to request, e.g. zero-a10g or a10g-small (default: as in README)")


def run_publish_space(args) -> int:
    from ..publish import list_files, prepare_space, publish_space

    if args.dry_run:
        out = prepare_space(args.dry_run, model_repo=args.model_repo)
        files = list_files(out)
        top = sorted({f.split("/")[0] for f in files})
        print(f"dry run: {len(files)} files for the Space {args.repo_id} written to {out}: {', '.join(top)}")
        if args.model_repo:
            print(f"a push would also set the Space variable HALSTED_MODEL={args.model_repo}")
        return 0
    url = publish_space(args.repo_id, model_repo=args.model_repo, private=args.private, token=args.token,
                        hardware=args.hardware)
    print(f"published the Space to {url}")
    return 0
