"""Talking to a chat model: a conversation that keeps its history and streams each reply.

`ChatSession` is the engine (nanochat's `engine.py` has the same job): it keeps
the messages, renders them with the chat template (`minigpt.chat`), trims the
oldest turns when the model's context is full, and generates the answer with
`minigpt.generate.Generator` and its KV cache. The command line
(`python -m minigpt chat`) and the notebook box (`chat_widget`) are two faces
of the same session.
"""

import html

import ipywidgets as widgets

from minigpt.chat import render_prompt
from minigpt.generate import Generator, TextStream, check_sampling


class ChatSession:
    """A conversation with a chat model: keeps the history and streams each reply.

    The same engine serves the command line (`python -m minigpt chat`) and the
    notebook widget (`chat_widget`). Replies come from `Generator`, with its KV
    cache; the graphs are compiled when the session starts, so the first reply
    starts as quickly as the later ones.
    """

    def __init__(self, model, tokenizer, system=None, temperature=0.0, top_k=None, top_p=None,
                 max_new_tokens=128, seed=None):
        check_sampling(temperature, top_k, top_p, max_new_tokens)
        self.tokenizer = tokenizer
        self.system = system
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.max_new_tokens = max_new_tokens
        self.block_size = model.config.block_size
        self.seed = seed
        self.generator = Generator(model)
        # The turn ends at <|end|>, and at any other chat token a model may write instead (a half-trained
        # one may start the user's turn itself): an answer never holds a chat token.
        self.stop_ids = tuple(tokenizer.special_ids.values())
        self.generator.generate([tokenizer.bos_id], 1)  # compile now, not at the first question
        self.reset()

    def reset(self):
        """Forget the conversation (the system message stays)."""
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    @property
    def reply_room(self):
        """Tokens kept free for the answer: trimming the history never leaves less."""
        return min(self.max_new_tokens, self.block_size // 2)

    def _prompt(self, messages):
        """The conversation as a prompt that leaves room for the answer, and the messages it keeps:
        the oldest exchanges are dropped first; the system message and the new question never are."""
        first = 1 if self.system else 0
        messages = list(messages)
        while True:
            prompt = render_prompt(self.tokenizer, messages)
            if len(prompt) + self.reply_room <= self.block_size:
                return prompt, messages
            if len(messages) - first <= 1:
                raise ValueError(f"this message is too long for the model: {len(prompt)} tokens, and the model "
                                 f"sees {self.block_size} with {self.reply_room} kept for its answer")
            del messages[first:first + 2]  # the oldest user question and its answer

    def reply(self, text, on_text=None):
        """Add the user's message, generate the answer (streamed to `on_text`), and return it.

        If anything fails (a message too long, an unknown character, a bad
        setting), the conversation stays exactly as it was.
        """
        self.tokenizer.encode(text)  # fails clearly (e.g. an unknown character) before anything changes
        prompt, kept = self._prompt(self.messages + [{"role": "user", "content": text}])
        stream = TextStream(self.tokenizer, on_text or (lambda piece: None))
        new = self.generator.generate(prompt, min(self.max_new_tokens, self.block_size - len(prompt)),
                                      self.temperature, self.top_k, self.top_p, stop_ids=self.stop_ids,
                                      seed=self.seed, on_token=stream)
        stream.flush()
        answer = self.tokenizer.decode(new)
        self.messages = kept + [{"role": "assistant", "content": answer}]
        return answer


def chat_widget(session):
    """A chat box for notebooks (ipywidgets) on a ChatSession: type, press Enter, watch it answer."""
    log = widgets.HTML(layout=widgets.Layout(border="1px solid #ccc", padding="6px", min_height="120px"))
    box = widgets.Text(placeholder="Say something and press Enter", continuous_update=False,
                       layout=widgets.Layout(width="70%"))
    reset = widgets.Button(description="Reset")
    lines = []

    def render(partial=""):
        rows = lines + ([partial] if partial else [])
        log.value = "<br>".join(rows)

    def on_submit(change):
        text = change["new"].strip()
        if not text:
            return
        box.value = ""
        lines.append(f"<b>you</b>: {html.escape(text)}")
        pieces = []

        def on_text(piece):
            pieces.append(piece)
            render(f"<b>bot</b>: {html.escape(''.join(pieces))}")

        try:
            answer = session.reply(text, on_text)
            lines.append(f"<b>bot</b>: {html.escape(answer)}")
        except ValueError as e:
            lines.append(f"<i>{html.escape(str(e))}</i>")
        render()

    def on_reset(_):
        session.reset()
        lines.clear()
        render()

    box.observe(on_submit, names="value")  # with continuous_update off: fires on Enter
    reset.on_click(on_reset)
    return widgets.VBox([log, widgets.HBox([box, reset])])
