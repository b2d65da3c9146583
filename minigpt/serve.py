"""A chat page in the browser: `python -m minigpt serve --checkpoint runs/speedrun/sft`.

The page is Gradio's `ChatInterface` (the chat page people know from Hugging
Face Spaces and MindSpore's own course demos), served on this machine only.
Underneath is the same `ChatSession` as the command line and the notebook box,
so the page answers exactly as `python -m minigpt chat` does: replies stream
token by token, the temperature is a slider, and the chat's clear button is
`/reset`.

Gradio keeps each browser tab's conversation and sends it with every message;
the session is given that history before it answers, so two tabs never mix
their conversations. One model answers one message at a time (Gradio queues
the rest).
"""

import os
import queue
import threading

DEFAULT_PORT = 7860


def session_messages(history, system=None):
    """Gradio's history as `ChatSession` messages: text only, and only whole exchanges.

    A user message without an answer (its reply failed, e.g. an unknown
    character) is left out, so one failed reply never breaks the conversation.
    """
    messages, pending = [{"role": "system", "content": system}] if system else [], None
    for message in history:
        role, content = message.get("role"), _text(message.get("content"))
        if role == "user":
            pending = content
        elif role == "assistant" and pending is not None:
            messages += [{"role": "user", "content": pending}, {"role": "assistant", "content": content}]
            pending = None
    return messages


def _text(content):
    """The text of a Gradio message: a string, or a list of parts of which the text ones count."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, (list, tuple)) else [content]
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in parts)


def stream_reply(session, text, history, temperature):
    """Yield the answer so far, piece by piece, as `session` generates it."""
    session.messages = session_messages(history, session.system)
    session.temperature = float(temperature)
    pieces, done = queue.Queue(), object()
    failure = []

    def generate():
        try:
            session.reply(text, on_text=pieces.put)
        except Exception as error:  # reported on the page below, in this thread of the request
            failure.append(error)
        finally:
            pieces.put(done)

    threading.Thread(target=generate, daemon=True).start()
    answer = ""
    while (piece := pieces.get()) is not done:
        answer += piece
        yield answer
    if failure:
        raise failure[0]
    if not answer:  # the model ended its turn at once: an empty answer, not a missing one
        yield answer


def build_page(session, title, note=""):
    """The Gradio app for `session`; `note` (e.g. "this model was never chat-tuned") is shown on top."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves this machine
    import gradio as gr

    def respond(message, history, temperature):
        try:
            yield from stream_reply(session, message, history, temperature)
        except ValueError as error:  # an unknown character, a message too long: said on the page
            raise gr.Error(str(error)) from None

    description = "Replies stream as the model writes them; the bin icon above the chat starts over."
    return gr.ChatInterface(
        respond, title=title, description=f"**{note}**\n\n{description}" if note else description,
        additional_inputs=[gr.Slider(0.0, 2.0, value=session.temperature, step=0.1,
                                     label="temperature (0 = always the most likely token)")],
        additional_inputs_accordion=gr.Accordion("Settings", open=True))


def serve(session, title, note="", port=DEFAULT_PORT, block=True):
    """Serve the page on http://127.0.0.1:`port`; return the app (when `block` is False, at once)."""
    page = build_page(session, title, note)
    page.launch(server_name="127.0.0.1", server_port=port, share=False, inbrowser=False,
                prevent_thread_lock=not block, quiet=True)
    return page
