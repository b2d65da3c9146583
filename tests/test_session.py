"""ChatSession: history kept, trimmed so the answer always has room, and never changed by a failed reply."""

import pytest

from minigpt.chat import render_prompt
from minigpt.session import ChatSession


@pytest.fixture(scope="module")
def session(random_chat_session):
    return random_chat_session(max_new_tokens=20)


def test_long_conversations_drop_the_oldest_turns_and_keep_room_for_the_answer(session):
    session.reset()
    for _ in range(6):
        session.reply("tell me something long please")
        prompt = render_prompt(session.tokenizer, session.messages[:-1])
        assert len(prompt) + session.reply_room <= 64
    assert session.messages[-2]["content"] == "tell me something long please"
    assert len(session.messages) < 12  # older exchanges went


def test_a_message_too_long_is_refused_and_nothing_is_lost(session):
    session.reset()
    session.reply("hi")
    before = list(session.messages)
    with pytest.raises(ValueError, match="too long for the model"):
        session.reply("a" * 60)
    assert session.messages == before


def test_a_failed_reply_leaves_the_conversation_as_it_was(session):
    session.reset()
    session.reply("hi")
    before = list(session.messages)
    for bad in ("temperature", "top_p", "top_k"):
        old = getattr(session, bad)
        setattr(session, bad, {"temperature": float("nan"), "top_p": 0.0, "top_k": 0}[bad])
        with pytest.raises(ValueError, match=f"{bad} must be"):
            session.reply("again")
        setattr(session, bad, old)
        assert session.messages == before
    with pytest.raises(ValueError, match="not in the char tokenizer"):
        session.reply("Ünïcode")
    assert session.messages == before
    session.reply("again")  # and the conversation goes on
    assert [m["role"] for m in session.messages] == ["user", "assistant"] * 2


def test_settings_that_cannot_sample_are_refused_at_the_start(session):
    with pytest.raises(ValueError, match="top_k must be"):
        ChatSession(session.generator.model, session.tokenizer, top_k=-1)


def test_the_web_chat_gives_the_session_whole_exchanges_only():
    from minigpt.serve import session_messages

    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
               {"role": "user", "content": "caf\u00e9?"},  # its reply failed (an unknown character): no answer
               {"role": "user", "content": "and now?"}, {"role": "assistant", "content": "yes"}]
    assert session_messages(history, system="be brief") == [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"}, {"role": "user", "content": "and now?"},
        {"role": "assistant", "content": "yes"}]


def test_the_web_chat_streams_the_sessions_reply_and_reports_a_failure(session):
    from minigpt.serve import stream_reply

    pieces = list(stream_reply(session, "hi", [], temperature=0.0))
    assert pieces and pieces[-1] == session.messages[-1]["content"]
    assert all(later.startswith(earlier) for earlier, later in zip(pieces, pieces[1:]))  # each yield grows the answer
    with pytest.raises(ValueError, match="not in the char tokenizer"):
        list(stream_reply(session, "HI", session.messages, temperature=0.0))
