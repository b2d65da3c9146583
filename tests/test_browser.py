"""The kit as people meet it: in a browser.

Playwright drives the system's Chromium (Debian's `chromium` package: Playwright's
own browser download is not reachable from the machines this kit runs on). A
student's JupyterLab: open a lesson, answer one question right and one wrong,
run check(), read the page; lesson 07's chat widget answers a message. The web
chat: two messages, both replies read from the page. The instructor's dashboard:
plots drawn, links to feedback that open.

Screenshots go to tests/screenshots/ (or $MINIGPT_SCREENSHOTS); without
Chromium or Playwright the tests skip, saying how to enable them.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("MINIGPT_SCREENSHOTS", ROOT / "tests" / "screenshots"))
CHROMIUM = next(filter(None, (shutil.which(name) for name in ("chromium", "chromium-browser"))), None)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium (as .ci/run does) to run the browser tests")
    playwright = pytest.importorskip("playwright.sync_api", reason="no Playwright: pip install -e '.[browser]' (make test does)")
    with playwright.sync_playwright() as driver:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()


def screenshot(page, name, full_page=True):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


# ---- the student's JupyterLab ---------------------------------------------------------------

RIGHT_SOFTMAX = '''def softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = ops.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
'''
WRONG_LINEAR = '''class Linear(nn.Cell):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(np.zeros((out_features, in_features), np.float32)), name="weight")
        self.bias = ms.Parameter(ms.Tensor(np.zeros(out_features, np.float32)), name="bias")

    def construct(self, x):
        return x
'''


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on an empty folder, as `make lab` starts it: yields the folder and the URL of its tree.
    A test copies the lessons it opens into the folder."""
    lab = tmp_path / "lab"
    lab.mkdir()
    settings = tmp_path / "settings" / "@jupyterlab"
    for name, value in [("notebook-extension/tracker", {"windowingMode": "none"}),  # every cell in the page
                        ("apputils-extension/notification", {"fetchNews": "false"})]:  # no news pop-up
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    port = free_port()
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"), GLOG_v="3")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                               "--ServerApp.token=", "--ServerApp.password=", "--allow-root",
                               f"--ServerApp.root_dir={lab}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _answers(port), 120, "JupyterLab to start")
        yield lab, f"http://127.0.0.1:{port}/lab/tree/"
    finally:
        server.terminate()
        server.wait(30)


def _answers(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _type_into(page, cell, text):
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)  # text as is: no auto-indent, no closing brackets


def _run(page, cell):
    """Select ``cell``, run it, and wait for its prompt to show an execution count."""
    prompt = cell.locator(".jp-InputArea-prompt")
    prompt.click()  # selects the cell in command mode
    page.keyboard.press("Control+Enter")
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()), 180, "a cell to run")


def _open_lesson(page, jupyterlab, lesson):
    """Copy a lesson's student release into the lab, open it, and wait for all its cells and an idle
    kernel: returns the page's cells."""
    lab, url = jupyterlab
    shutil.copy(ROOT / "assignments" / lesson, lab)
    page.goto(url + lesson)
    cells = page.locator(".jp-Notebook .jp-Cell")
    expected = len(json.loads((lab / lesson).read_text(encoding="utf-8"))["cells"])
    wait_until(lambda: cells.count() == expected, 120, f"the lesson's {expected} cells")
    wait_until(lambda: "(ipykernel) | Idle" in page.locator(".jp-StatusBar-Widget").inner_text(), 120, "the kernel")
    return cells


def test_a_student_answers_and_checks_in_jupyterlab(page, jupyterlab):
    cells = _open_lesson(page, jupyterlab, "00_mindspore_basics.ipynb")
    texts = cells.all_inner_texts()
    setup, imports = 0, next(i for i, t in enumerate(texts) if "import numpy as np" in t)
    softmax = next(i for i, t in enumerate(texts) if "def softmax(logits):" in t)
    linear = next(i for i, t in enumerate(texts) if "class Linear(nn.Cell):" in t)
    _type_into(page, cells.nth(softmax), RIGHT_SOFTMAX)
    _type_into(page, cells.nth(linear), WRONG_LINEAR + "\ncheck('q_softmax')\ncheck('q_linear')\n")
    page.keyboard.press("Escape")
    for index in (setup, imports, softmax, linear):
        _run(page, cells.nth(index))
    output = cells.nth(linear).locator(".jp-OutputArea").inner_text()
    cells.nth(linear).scroll_into_view_if_needed()
    screenshot(page, "jupyterlab_check", full_page=False)
    assert "q_softmax: 2/2 visible tests passed" in output, output
    assert "✓ t_softmax_basic: pass" in output and "✓ t_softmax_stable: pass" in output
    assert "q_linear: 0/2 visible tests passed" in output and "✗ t_linear_parameters: fail" in output
    assert "hint: wrap each tensor in ms.Parameter" in output
    assert "Traceback" not in output and "Error" not in output


def test_the_chat_widget_of_lesson_07_answers_in_jupyterlab(page, jupyterlab, random_chat_session):
    """Lesson 07's last cell, run as it ships, on a stand-in model: the widget must render in JupyterLab
    (not print "VBox(...)") and show the reply the same session gives here."""
    from minigpt.checkpoint import save_checkpoint

    options = dict(temperature=1.0, max_new_tokens=12, seed=0)
    here = random_chat_session("abcdefghijklmnopqrstuvwxyz ?.,!", 96, **options)
    save_checkpoint(jupyterlab[0] / "stand_in", here.generator.model, here.tokenizer)
    expected = here.reply("hi, i am wei.")
    assert expected  # a reply that shows on the page
    cells = _open_lesson(page, jupyterlab, "07_chat_tuning.ipynb")
    texts = cells.all_inner_texts()
    before = next(i for i, t in enumerate(texts) if "session = ChatSession(model, tokenizer)" in t)
    widget = next(i for i, t in enumerate(texts) if "chat_widget(session)" in t)
    assert widget == before + 1  # the session the widget cell uses is the one the cell before makes
    _type_into(page, cells.nth(before),  # what the earlier cells would have built: a model and its session
               "from minigpt.checkpoint import load_checkpoint\nfrom minigpt.session import ChatSession\n\n"
               "model, tokenizer, _ = load_checkpoint('stand_in')\n"
               f"session = ChatSession(model, tokenizer, {', '.join(f'{k}={v!r}' for k, v in options.items())})\n")
    page.keyboard.press("Escape")
    for index in (before, widget):
        _run(page, cells.nth(index))
    box = cells.nth(widget).get_by_placeholder("Say something and press Enter")
    box.wait_for(timeout=60_000)  # the widget, rendered by JupyterLab's widget manager
    box.fill("hi, i am wei.")
    box.press("Enter")
    log = cells.nth(widget).locator(".widget-html-content").first
    shown = ["you: hi, i am wei.", f"bot: {expected}"]  # the reply streams in: wait for all of it
    wait_until(lambda: log.inner_text().splitlines() == shown, 60, f"the page to show {shown}")
    assert box.input_value() == ""  # the box is cleared for the next message
    cells.nth(widget).scroll_into_view_if_needed()
    screenshot(page, "chat_widget", full_page=False)
    cells.nth(widget).get_by_role("button", name="Reset").click()
    wait_until(lambda: log.inner_text().strip() == "", 30, "the widget to reset")


# ---- the web chat ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat_page(random_chat_session):
    """`python -m minigpt serve` on a small random model (the page, not the model, is under test)."""
    from minigpt.serve import serve

    session = random_chat_session("abcdefghijklmnopqrstuvwxyz ?.,!", 96, temperature=1.0, max_new_tokens=12, seed=0)
    port = free_port()
    app = serve(session, "MiniGPT", "a note for the user", port=port, block=False)
    yield session, f"http://127.0.0.1:{port}"
    app.close()


def test_the_web_chat_answers_two_messages_in_one_conversation(page, chat_page):
    session, url = chat_page
    page.goto(url)
    page.get_by_text("a note for the user").wait_for(timeout=30_000)  # the page renders in the browser
    box, bot = page.get_by_role("textbox").first, page.locator('[data-testid="bot"]')
    for turn, message in enumerate(["hi, i am wei.", "what is my name?"], 1):
        box.fill(message)
        box.press("Enter")
        wait_until(lambda: len(session.messages) == 2 * turn and bot.count() == turn
                   and bot.nth(turn - 1).inner_text() == session.messages[-1]["content"], 60, f"reply {turn}")
    assert [m["content"] for m in session.messages[::2]] == ["hi, i am wei.", "what is my name?"]
    assert all(session.messages[i]["content"] for i in (1, 3))  # two real replies, both on the page
    screenshot(page, "web_chat")
    page.get_by_role("button", name="Clear").first.click()  # the bin icon: the conversation starts over
    wait_until(lambda: bot.count() == 0, 30, "the chat to clear")


# ---- the instructor's dashboard ------------------------------------------------------------


def test_the_dashboard_opens_with_its_plots_and_links(page, tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "grader_fixtures"))
    import demo

    from grader import grade_submissions, release_notebook, write_reports
    from grader.sandbox import Limits

    source = demo.write(tmp_path / "demo.ipynb", demo.notebook(demo.demo_cells()))
    subs = tmp_path / "submitted"
    subs.mkdir()
    (subs / "ann.ipynb").write_text(release_notebook(source), encoding="utf-8")
    demo.write(subs / "bob.ipynb", demo.notebook(demo.demo_cells()))
    demo.write(subs / "cid.ipynb", demo.notebook(demo.demo_cells(softmax="def softmax(x):\n    return x\n")))
    (subs / "dee.ipynb").write_text("{ half a notebook")
    write_reports(grade_submissions(source, subs, Limits(cell_timeout=5, total_timeout=30), workers=1),
                  tmp_path / "results")
    page.goto((tmp_path / "results" / "index.html").as_uri())
    images = page.locator("img")
    assert images.count() == 2
    assert all(images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(2))
    assert "Failed most often: t_softmax_sum" in page.inner_text("body")
    screenshot(page, "dashboard")
    page.get_by_role("link", name="cid").first.click()
    assert "Score: 4 / 8" in page.inner_text("body")
