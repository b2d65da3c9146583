"""KV-cache generation against recomputing the whole context at every step.

    python benchmarks/generate_speed.py

Generates 256 new tokens after a 64-token prompt with the baby-recipe model
(4 layers, 4 heads, 128 dims; block 320 so nothing is cropped), greedy, both
ways, after a warm-up run that compiles each graph once. Prints one JSON line
with the seconds of each way, the speed-up, whether the outputs are identical,
and the chat latency: seconds from a user's message to the first streamed
token of the reply, in a ChatSession on the speedrun's model size (block 128).
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
    result["chat_first_token_s"] = round(chat_first_token_latency(), 3)
    print(json.dumps(result))
    return result


def chat_first_token_latency():
    """Median seconds from `ChatSession.reply` to its first streamed piece of text."""
    import numpy as np

    from minigpt.session import ChatSession
    from minigpt.model import GPT, GPTConfig
    from minigpt.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.train("".join(chr(c) for c in range(32, 127)))
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=128, n_layer=2, n_head=4, n_embd=128))
    session = ChatSession(model, tokenizer, max_new_tokens=8)  # compiles here, as the chat CLI does at start
    latencies = []
    for question in ("Hello, I am Ana.", "What is 3 + 4?", "Reverse the word cat."):
        start, first = time.perf_counter(), []
        session.reply(question, on_text=lambda piece: first or first.append(time.perf_counter()))
        latencies.append(first[0] - start)
    return float(np.median(latencies))


if __name__ == "__main__":
    main()
