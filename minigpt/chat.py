"""The chat template: conversations as token ids, with a loss mask.

A conversation is a list of messages, `{"role": ..., "content": ...}`, with an
optional system message first and then user and assistant turns in
alternation. It becomes one token sequence:

    <|bos|> [<|system|> text <|end|>] <|user|> text <|end|> <|assistant|> text <|end|> ...

The role markers are special ids that `encode` never produces from text, so a
user who types "<|assistant|>" cannot forge a turn. Chat fine-tuning trains
only on what the assistant says: the loss mask is 1 on the assistant's content
tokens and on the `<|end|>` that closes them (so the model learns to stop), and
0 everywhere else. At generation time the prompt ends with `<|assistant|>` and
the model writes until it produces `<|end|>`.
"""

import html

from minigpt.tokenizer import SPECIAL_TOKENS

ROLES = ("system", "user", "assistant")
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}


def check_messages(messages) -> None:
    """Raise ValueError, saying what is wrong, unless `messages` is a conversation
    the template can render: [system,] user, assistant, user, ..."""
    if not isinstance(messages, list) or not messages:
        raise ValueError('messages must be a non-empty list of {"role": ..., "content": ...} dicts')
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f'message {i} must be a dict with "role" and "content", got {message!r}')
        if message["role"] not in ROLES:
            raise ValueError(f"message {i} has unknown role {message['role']!r}; roles are {', '.join(ROLES)}")
        if not isinstance(message["content"], str):
            raise ValueError(f"message {i} content must be a string, got {type(message['content']).__name__}")
    first_turn = 1 if messages[0]["role"] == "system" else 0
    if first_turn == len(messages):
        raise ValueError("a conversation needs at least one user message after the system message")
    for i in range(first_turn, len(messages)):
        expected = "user" if (i - first_turn) % 2 == 0 else "assistant"
        if messages[i]["role"] != expected:
            raise ValueError(f"message {i} has role {messages[i]['role']!r} where {expected!r} was expected "
                             "(an optional system message first, then user and assistant turns in alternation)")


def render_conversation(tokenizer, messages) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and a loss mask of the same length (1 = train on it)."""
    check_messages(messages)
    ids, mask = [tokenizer.bos_id], [0]
    for message in messages:
        content = tokenizer.encode(message["content"])
        trained = int(message["role"] == "assistant")
        ids += [tokenizer.special_ids[ROLE_TOKENS[message["role"]]], *content, tokenizer.end_id]
        mask += [0] + [trained] * (len(content) + 1)
    return ids, mask


def render_prompt(tokenizer, messages) -> list[int]:
    """Ids of the conversation so far plus `<|assistant|>`: the model's turn to write."""
    check_messages(messages)
    if messages[-1]["role"] != "user":
        raise ValueError(f"a prompt must end with a user message, not a {messages[-1]['role']!r} one")
    ids, _ = render_conversation(tokenizer, messages)
    return ids + [tokenizer.special_ids[ROLE_TOKENS["assistant"]]]


# --- Seeing the mask ------------------------------------------------------------
# Whitespace is drawn so that token boundaries around it can be seen.
VISIBLE_WHITESPACE = str.maketrans({" ": "·", "\n": "↵\n", "\t": "→"})
TRAINED_STYLE = "background:#b7e4c7; color:#081c15"
CONTEXT_STYLE = "background:#e9ecef; color:#6c757d"


def _tokens(tokenizer, ids, mask):
    """(id, display string, mask bit) per token; refuse a mask that does not fit."""
    ids, mask = list(ids), [int(m) for m in mask]
    if len(ids) != len(mask) or not set(mask) <= {0, 1}:
        raise ValueError(f"the mask must be 0s and 1s, one per id: got {len(mask)} values for {len(ids)} ids")
    strings = [s.translate(VISIBLE_WHITESPACE) for s in tokenizer.token_strings(ids)]
    return zip(ids, strings, mask)


def mask_html(tokenizer, ids, mask) -> str:
    """HTML for a notebook (`IPython.display.HTML`): one box per token, trained-on
    tokens highlighted, special tokens in bold; hover a token to see its id."""
    spans = []
    for token_id, string, trained in _tokens(tokenizer, ids, mask):
        style = (TRAINED_STYLE if trained else CONTEXT_STYLE) + ("; font-weight:bold" if token_id < len(SPECIAL_TOKENS) else "")
        title = f"id {token_id}, {'trained on' if trained else 'context only'}"
        spans.append(f'<span style="{style}; margin:1px; padding:0 1px" title="{title}">{html.escape(string)}</span>')
    return '<div style="font-family:monospace; white-space:pre-wrap; line-height:1.9">' + "".join(spans) + "</div>"


def mask_text(tokenizer, ids, mask) -> str:
    """Plain text for a terminal: each run of trained-on tokens inside [brackets]."""
    out, inside = [], False
    for _, string, trained in _tokens(tokenizer, ids, mask):
        if trained != inside:
            out.append("[" if trained else "]")
            inside = trained
        out.append(string)
    return "".join(out) + ("]" if inside else "")
