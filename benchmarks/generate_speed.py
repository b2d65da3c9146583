"""KV-cache generation against recomputing the whole context at every step.

    python benchmarks/generate_speed.py

Generates 256 new tokens after a 64-token prompt with the baby-recipe model
(4 layers, 4 heads, 128 dims; block 320 so nothing is cropped), greedy, both
ways, after a warm-up run that compiles each graph once. Prints one JSON line
with the seconds of each way, the speed-up, and whether the outputs are identical.
"""

import argparse
import json
import time

from minigpt.device import seed_everything, setup_device


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    args = parser.parse_args(argv)

    setup_device(quiet=True)
    from minigpt.generate import Generator
    from minigpt.model import GPT, GPTConfig

    seed_everything(0)
    block = args.prompt_tokens + args.new_tokens
    model = GPT(GPTConfig(vocab_size=109, block_size=block, n_layer=4, n_head=4, n_embd=128))
    prompt = [i % 100 + 6 for i in range(args.prompt_tokens)]
    result = {"new_tokens": args.new_tokens, "prompt_tokens": args.prompt_tokens}
    outputs = {}
    for name, use_cache in (("cached", True), ("recompute", False)):
        generator = Generator(model, use_cache=use_cache)
        generator.generate(prompt, 2, temperature=0)  # compile
        start = time.perf_counter()
        outputs[name] = generator.generate(prompt, args.new_tokens, temperature=0)
        result[f"{name}_s"] = round(time.perf_counter() - start, 3)
    result["speedup"] = round(result["recompute_s"] / result["cached_s"], 2)
    result["identical"] = outputs["cached"] == outputs["recompute"]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
