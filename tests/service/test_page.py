"""The students' page in a real headless browser (Debian's Chromium driven by Playwright) against the real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.service.liveserver import LiveServer, start_server
from tests.service.solutions import BUGGY, CORRECT, slow


def _hand_in(browser: Any, url: str, tmp_path: Path, source: str, student: str, *, polled: bool = False) -> Any:
    file = tmp_path / "nn.py"
    file.write_text(source)
    page = browser.new_page()
    page.goto(url + "/")
    page.set_input_files("#file", str(file))
    page.fill("#student", student)
    page.click("#submit")
    if polled:  # the server answered 202: the page says so and polls
        # A locator, not wait_for_function: the page's CSP (rightly) forbids evaluating strings as script.
        page.locator("#status", has_text="Your submission is ").wait_for(timeout=30_000)
    page.wait_for_selector("#total", timeout=30_000)
    return page


def test_a_student_uploads_and_sees_scores_and_feedback(browser: Any, live_server: LiveServer, tmp_path: Path) -> None:
    page = _hand_in(browser, live_server.url, tmp_path, BUGGY, "pat")
    assert page.text_content("#total") == "55 / 100"  # output size right, every forward wrong, backward right
    questions = page.locator("h2.question").all_text_contents()
    assert questions[0] == "Q1 Conv1d.forward: 5 / 50"
    assert questions[1] == "Q2 Conv1d.backward: 50 / 50"
    rows = page.locator("tr.test")
    assert rows.count() > 20
    forward = page.locator('tr.test[data-test="test_conv1d_forward_1"]')
    assert forward.locator("td.status").text_content() == "failed"
    assert "bias" in (forward.locator("td.feedback").text_content() or "")  # the hint names the likely cause
    assert page.locator("td.status.passed").count() > 0
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    page.close()


def test_a_correct_file_gets_full_marks_and_errors_show_their_message(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    page = _hand_in(browser, live_server.url, tmp_path, CORRECT, "quinn")
    assert page.text_content("#total") == "100 / 100"
    assert page.locator("td.status.failed").count() == 0
    empty = tmp_path / "empty.py"
    empty.write_text("")
    page.set_input_files("#file", str(empty))
    page.click("#submit")
    page.wait_for_selector("#status.error")
    assert "empty" in (page.text_content("#status") or "")
    page.close()


def test_the_page_polls_when_the_verdict_takes_longer(browser: Any, tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", tmp_path / "server.log", CONV1D_WAIT_SECONDS="0", CONV1D_DEV="1")
    try:
        page = _hand_in(browser, server.url, tmp_path, slow(1.0), "rae", polled=True)
        assert page.text_content("#total") == "100 / 100"
        assert page.text_content("#status") == "Graded."
        page.close()
    finally:
        server.stop()


def test_with_several_assignments_the_student_picks_one(browser: Any, live_server: LiveServer, tmp_path: Path) -> None:
    linear = Path(__file__).resolve().parents[2] / "grader" / "packs" / "linear" / "samples" / "correct_linear.py"
    page = browser.new_page()
    page.goto(live_server.url + "/")
    picker = page.locator("#assignment")
    picker.wait_for(state="visible", timeout=10_000)
    assert picker.locator("option").all_text_contents() == ["Assignment 2 Part A: Conv1d", "Linear layer"]
    picker.select_option("linear")
    page.set_input_files("#file", str(linear))
    page.fill("#student", "rosa")
    page.click("#submit")
    page.wait_for_selector("#total", timeout=30_000)
    assert page.text_content("#total") == "100 / 100"
    questions = page.locator("h2.question").all_text_contents()
    assert questions == ["Q1 Linear.forward: 40 / 40", "Q2 Linear.backward: 60 / 60"]
    page.close()
