"""Benchmark: K candidates per prompt with this project's transformers backend (one prefill per prompt,
KV cache shared by the K samples) against plain `model.generate(num_return_sequences=K, do_sample=True)`.

Same process, same model (the bundled SmolLM2-135M GGUF), same few-shot prompts, same sampling settings,
same torch thread count, CPU only. Both sides generate exactly --new-tokens tokens per candidate (EOS is
suppressed until then). Runs of the two sides alternate, so a busy machine slows both alike.

    python bench/generation.py --k 4 8 --prompts 4 --prompt-tokens 400 --new-tokens 48

Prints a line per measurement and, as the last line, one JSON object with the results.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the comparison is on the CPU, even on a GPU machine

import torch  # noqa: E402

from worker.generation import default_model_settings, get_backend  # noqa: E402

INSTRUCTION = (
    "You sort customer messages for a small bicycle repair shop. For each message, give the category "
    "(booking, repair question, billing, complaint or other), the urgency (low, medium or high) and a "
    "one-sentence reply the shop could send back.\n\n"
)

EXAMPLES = [
    ("Hi, can I bring my road bike in on Saturday morning for a tune-up? It has been a year since the last one.",
     "booking", "low", "Saturday morning works; bring the bike any time after nine and we will have it ready by five."),
    ("My rear brake squeals every time I stop, even after I cleaned the rim. Is that dangerous?",
     "repair question", "medium", "Squealing usually means worn or glazed pads, so please stop by and we will check them for free."),
    ("I was charged twice for the wheel truing last week, once on Monday and again on Tuesday.",
     "billing", "medium", "Sorry about that, we will refund the second charge today and email you the receipt."),
    ("The chain you replaced fell off twice on my way home and I nearly crashed into a parked car.",
     "complaint", "high", "We are very sorry; please do not ride it, and we will pick the bike up and fix it at no cost."),
    ("Do you sell second-hand children's bikes, around sixteen inch wheels?",
     "other", "low", "We usually have two or three in stock, so come and have a look or call us to ask what is in today."),
    ("My e-bike battery stopped charging completely and I need it for work tomorrow.",
     "repair question", "high", "Bring it in first thing tomorrow and we will test the battery and charger while you wait."),
    ("Could I move my Thursday appointment to next Monday afternoon instead?",
     "booking", "low", "Done, you are now booked for Monday at two, and Thursday is free for someone else."),
    ("The invoice lists a new tire but I only asked for a tube to be replaced.",
     "billing", "medium", "You are right to ask; we will check the work order and correct the invoice if the tire was not fitted."),
]

QUESTIONS = [
    "My gears keep slipping when I climb hills, and the shifter feels loose.",
    "Can you service a folding bike, and how long would it take?",
    "I left my helmet at the shop yesterday, could you keep it until Friday?",
    "You quoted forty euros but I paid sixty-five, and nobody explained why.",
    "The front wheel wobbles a lot since I hit a pothole this morning.",
    "Do you offer a discount for students who bring their bikes in regularly?",
    "I want to book a full service before my cycling holiday in three weeks.",
    "The new saddle you fitted is already torn after one week of riding.",
]


def format_example(message, category, urgency, reply):
    return f"Message: {message}\nCategory: {category}\nUrgency: {urgency}\nReply: {reply}\n\n"


def few_shot_prompts(tokenizer, count, target_tokens):
    """`count` prompts of about `target_tokens` tokens: the instruction, worked examples (rotated so the
    prompts differ) until the target is reached, then an open message for the model to sort."""
    prompts = []
    for index in range(count):
        text = INSTRUCTION
        shift = 0
        while len(tokenizer(text)["input_ids"]) < target_tokens - 40:
            text += format_example(*EXAMPLES[(index + shift) % len(EXAMPLES)])
            shift += 1
        prompts.append(text + f"Message: {QUESTIONS[index % len(QUESTIONS)]}\nCategory:")
    return prompts


def plain_generate(model, tokenizer, pad_token_id, prompts, k, settings):
    """The baseline: transformers' own sampling of K sequences per prompt."""
    inputs = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    with torch.inference_mode():
        output = model.generate(
            **inputs, do_sample=True, num_return_sequences=k, temperature=settings.temperature,
            top_p=settings.top_p, top_k=0,  # no top-k on either side: the backend applies only what settings say
            max_new_tokens=settings.max_new_tokens, min_new_tokens=settings.max_new_tokens,
            pad_token_id=pad_token_id,
        )
    return output.shape[1] - inputs["input_ids"].shape[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8], help="candidates per prompt")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per K and side")
    parser.add_argument("--batch", type=int, default=2, help="prompts per generate call (both sides)")
    parser.add_argument("--prompt-tokens", type=int, default=400)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads, the same for both sides")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    settings = default_model_settings(max_new_tokens=args.new_tokens, temperature=args.temperature,
                                      top_p=args.top_p, seed=0, ignore_eos=True)
    started = time.perf_counter()
    backend = get_backend(settings)
    load_seconds = time.perf_counter() - started
    model, tokenizer = backend.loaded.model, backend.loaded.tokenizer
    print(f"loaded {backend.model_name} in {load_seconds:.1f} s", flush=True)

    prompts = few_shot_prompts(tokenizer, args.prompts, args.prompt_tokens)
    prompt_lengths = [len(tokenizer(p)["input_ids"]) for p in prompts]
    batches = [prompts[i:i + args.batch] for i in range(0, len(prompts), args.batch)]

    def run_ours(batch, k):
        texts = backend.generate(batch, k, settings)
        assert [len(candidates) for candidates in texts] == [k] * len(batch)

    def run_plain(batch, k):
        generated = plain_generate(model, tokenizer, backend.loaded.pad_token_id, batch, k, settings)
        assert generated == args.new_tokens, generated

    # Warm up both paths once (allocator, thread pool, lazy imports) on a short run.
    warm = default_model_settings(max_new_tokens=4, seed=0)
    backend.generate(prompts[:1], 2, warm)
    plain_generate(model, tokenizer, backend.loaded.pad_token_id, prompts[:1], 2, warm)

    results = {}
    for k in args.k:
        seconds = {"plain": 0.0, "ours": 0.0}
        for index, batch in enumerate(batches):
            sides = [("plain", run_plain), ("ours", run_ours)]
            for name, run in sides if index % 2 == 0 else sides[::-1]:
                start = time.perf_counter()
                run(batch, k)
                seconds[name] += time.perf_counter() - start
                print(f"K={k} batch {index} {name}: {time.perf_counter() - start:.2f} s", flush=True)
        tokens = len(prompts) * k * args.new_tokens
        results[f"k{k}"] = {
            "k": k,
            **{f"{name}_seconds": round(value, 2) for name, value in seconds.items()},
            **{f"{name}_prompts_per_s": round(len(prompts) / value, 3) for name, value in seconds.items()},
            **{f"{name}_generated_tokens_per_s": round(tokens / value, 1) for name, value in seconds.items()},
            "speedup": round(seconds["plain"] / seconds["ours"], 2),
        }
        print(f"K={k}: {results[f'k{k}']}", flush=True)

    print(json.dumps({
        "model": backend.model_name,
        "device": "cpu",
        "threads": args.threads,
        "prompts_per_k": len(prompts),
        "batch": args.batch,
        "prompt_tokens": prompt_lengths,
        "new_tokens": args.new_tokens,
        "load_seconds": round(load_seconds, 1),
        "results": results,
    }))


if __name__ == "__main__":
    main()
