"""Train a reward model from a JSONL file of rankings.

    python -m rewards.training --from-jsonl ../shared/data/hh_harmless_pairs.jsonl --output runs/rm --max-steps 200
    torchrun --nproc-per-node 4 -m rewards.training --from-jsonl ... --output ...   # DistributedDataParallel

Every RewardConfig field is a flag (``--learning-rate``, ``--groups-per-step``, ...). Prints the final
metrics as one JSON object on the last line (rank 0 only under torchrun).
"""

import argparse
import dataclasses
import json
import sys
import typing

from tqdm import tqdm

from .config import RewardConfig
from .data import load_jsonl, split_by_prompt
from .trainer import train_reward_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rewards.training", description=__doc__.splitlines()[0])
    parser.add_argument("--from-jsonl", required=True, help="Rankings: pairs {prompt, chosen, rejected}, Rankwise's grouped export, or Open-Assistant {messages, responses, ranks}.")
    parser.add_argument("--output", required=True, help="Checkpoint directory to write (atomically).")
    parser.add_argument("--validation-fraction", type=float, default=0.1, help="Share of prompts held out.")
    hints = typing.get_type_hints(RewardConfig)
    for config_field in dataclasses.fields(RewardConfig):
        if config_field.name == "output_dir":
            continue
        flag = "--" + config_field.name.replace("_", "-")
        kind = hints[config_field.name]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=config_field.metadata["help"])
        else:
            # `int | None` and friends: parse with the non-None member.
            base = next(t for t in typing.get_args(kind) if t is not type(None)) if typing.get_args(kind) else kind
            parser.add_argument(flag, type=base, default=None, help=config_field.metadata["help"])
    return parser


def main(argv: list[str] | None = None) -> None:
    args = vars(build_parser().parse_args(argv))
    groups = load_jsonl(args.pop("from_jsonl"))
    train_groups, validation_groups = split_by_prompt(groups, args.pop("validation_fraction"), seed=args.get("seed") or 0)
    overrides = {name: value for name, value in args.items() if name != "output" and value is not None}
    config = RewardConfig(output_dir=args["output"], **overrides)

    with tqdm(desc="training", unit="step", file=sys.stderr) as progress:

        def show(step: int, total_steps: int, loss: float) -> None:
            progress.total = total_steps
            progress.update(step - progress.n)
            progress.set_postfix(loss=f"{loss:.4f}")

        result = train_reward_model(config, train_groups, validation_groups, on_progress=show)
    if result.rank == 0:
        print(json.dumps({**result.metrics, "checkpoint_dir": result.checkpoint_dir}))


if __name__ == "__main__":
    main()
