"""The students' page shows control characters from student code as visible escapes (issue 11, item 4).

Real browser (Debian's Chromium via Playwright), real server, real sandbox: the submission really prints
and raises terminal escapes, bidi overrides and HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.report import escape_controls
from tests.service.liveserver import LiveServer
from tests.service.solutions import CORRECT

ATTACK = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\r100/100\u202e001/0\u202c\x9b\x7f\u2066x\u2069"
HTML = "<img src=x onerror=alert(1)>"
RAW_CONTROL = "".join(map(chr, [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])) + "\u202a\u202b"
RAW_CONTROL += "\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

# The correct solution, except that forward prints the attack and backward raises it.
HOSTILE = CORRECT.replace(
    "    def forward(self, x):\n", f"    def forward(self, x):\n        print({ATTACK + HTML!r})\n"
).replace("    def backward(self, delta):\n", f"    def backward(self, delta):\n        raise ValueError({ATTACK!r})\n")
LOAD_FAILS = f"raise RuntimeError({ATTACK + HTML!r})\n"




def _hand_in(browser: Any, url: str, tmp_path: Path, source: str) -> Any:
    file = tmp_path / "nn.py"
    file.write_text(source)
    page = browser.new_page()
    page.goto(url + "/")
    page.set_input_files("#file", str(file))
    page.click("#submit")
    page.wait_for_selector("#total", timeout=30_000)
    return page


def test_the_page_escapes_what_the_code_printed_and_raised(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    assert "        print(" in HOSTILE and "        raise ValueError(" in HOSTILE
    page = _hand_in(browser, live_server.url, tmp_path, HOSTILE)
    assert page.text_content("#total") == "50 / 100"  # forward right, backward raised
    forward = page.locator('tr.test[data-test="test_conv1d_forward_1"] td.feedback').text_content() or ""
    backward = page.locator('tr.test[data-test="test_conv1d_backward_1 (dx)"] td.feedback').text_content() or ""
    assert f"Your code printed:\n{escape_controls(ATTACK + HTML)}" in forward
    assert "raised ValueError (nn.py line " in backward and escape_controls(ATTACK) in backward
    shown = page.text_content("#result") or ""
    assert not set(shown) & set(RAW_CONTROL), sorted({hex(ord(c)) for c in set(shown) & set(RAW_CONTROL)})
    assert page.locator("#result img").count() == 0
    page.close()


def test_the_page_escapes_a_rejected_files_message(browser: Any, live_server: LiveServer, tmp_path: Path) -> None:
    page = _hand_in(browser, live_server.url, tmp_path, LOAD_FAILS)
    message = page.locator("#summary .rejected").first.text_content() or ""
    assert page.locator("#summary .rejected").count() == 1  # one message for the file, not one per test
    assert escape_controls(ATTACK + HTML) in message
    assert not set(message) & set(RAW_CONTROL) and page.locator("#result img").count() == 0
    page.close()


SAMPLES = [
    "plain text, café, 卷积, 🙂 and a literal \\x1b",
    "".join(map(chr, range(0x00, 0x100))),
    "".join(map(chr, range(0x2020, 0x2070))),
    "\U0001f642 emoji stays whole: the page's surrogate range matches lone surrogates only",
]


def test_the_pages_escaping_agrees_with_the_graders(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page()
    page.goto(live_server.url + "/")
    assert page.evaluate("(texts) => texts.map(visible)", SAMPLES) == [escape_controls(s) for s in SAMPLES]
    page.close()
