"""The summariser and Docs Q&A when the page is used while an answer streams: the newer run stops the
call and keeps what arrived, marked stopped. AppTest with a stand-in for the interrupted stream."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lib.llm.chat import ChatResult
from lib.summarize.fetch import from_text

PAGES = Path(__file__).resolve().parents[1] / "pages"


class Interrupted:
    """The stream of a run Streamlit ended part-way: its text so far, and `cancel()`."""

    def __init__(self, text: str) -> None:
        self.result = ChatResult(text=text)
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_a_summary_stopped_part_way_is_cancelled_kept_and_marked(data_dir: Path) -> None:
    stream = Interrupted("Lighthouses guide ships past")
    at = AppTest.from_file(str(PAGES / "summarize.py"), default_timeout=60)
    at.session_state["sum_docs"] = {"paste|balanced|x": from_text("Lighthouses guide ships. " * 20)}
    at.session_state["sum_active"] = ("paste|balanced|x", stream)
    at.run()
    assert not at.exception
    assert stream.cancelled and at.session_state["sum_active"] is None
    assert any(m.value == "Lighthouses guide ships past" for m in at.markdown)
    assert any("Stopped" in c.value for c in at.caption)
    assert at.session_state["sum_summaries"] == {}  # never cached as if whole


def test_a_docs_qa_answer_stopped_part_way_keeps_its_turn_marked_and_in_history(data_dir: Path) -> None:
    stream = Interrupted("The index is rebuilt when")
    turn = {"question": "When is the index rebuilt?", "answer": "", "passages": [], "caption": "", "error": None}
    at = AppTest.from_file(str(PAGES / "docs_qa.py"), default_timeout=60)
    at.session_state["qa_turns"] = {"notes": [turn]}
    at.session_state["qa_active"] = (turn, stream)
    at.run()
    assert not at.exception
    assert stream.cancelled and at.session_state["qa_active"] is None
    kept = at.session_state["qa_turns"]["notes"][0]
    assert kept["answer"] == "The index is rebuilt when" and kept["stopped"]


def test_a_send_whose_run_ended_before_its_reply_began_leaves_a_stopped_turn(data_dir: Path) -> None:
    from lib.conversation.service import Turn
    from lib.storage.store import Store

    store = Store.in_dir(data_dir)
    cid = store.create_conversation()
    store.add_message(cid, "user", "Tell me a story.")
    at = AppTest.from_file(str(PAGES / "chat.py"), default_timeout=60)
    at.query_params["c"] = cid
    at.session_state["chat_sending"] = cid  # the run that saved the message was ended right after
    at.run()
    assert not at.exception
    turns = [Turn.from_stored(m) for m in store.get_conversation(cid).messages]
    assert [(t.role, t.content, t.stopped) for t in turns] == [("user", "Tell me a story.", False), ("assistant", "", True)]
    assert [t.role for t in at.session_state["chat_history"]] == ["user", "assistant"]
    assert any("Stopped" in c.value for c in at.caption)
