"""Issue 16 end to end, in headless Chromium against the real server and sandbox: a course as the README's
"Running it for a course" describes it. The instructor imports the roster on /instructor and gets the links;
Alice (with an extension) and Bob (past the due date: a late upload) hand in through their links; the instructor
reads the overview and its plots, a student's history, downloads a file, regrades with a before/after diff and
downloads the gradebook; /docs works with no network. Every page at 1280 px and 375 px, with screenshots in
``.artifacts/screens/`` and no horizontal overflow on a phone."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import AUTH, TOKEN
from tests.service.liveserver import LiveServer, start_server
from tests.service.solutions import BUGGY, slow

SCREENS = Path(__file__).resolve().parents[2] / ".artifacts" / "screens"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


NOW = datetime.now(UTC)
ROSTER = "id,name,email\nalice,Alice Liddell,alice@example.edu\nbob,Bob Builder,bob@example.edu\n"




@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service in production mode with a deadline 30 hours ago, late uploads taken for two more days at 10% a
    day, and the hidden tests shown after the due date."""
    folder = tmp_path_factory.mktemp("course")
    config = folder / "course.toml"
    config.write_text(
        f'[policy]\ndue = "{(NOW - timedelta(hours=30)).isoformat()}"\n'
        f'late_due = "{(NOW + timedelta(days=2)).isoformat()}"\nlate_penalty_per_day = 0.1\n'
        '[visibility]\nhidden = "after_due_date"\n'
    )
    server = start_server(folder / "data", folder / "server.log", CONV1D_CONFIG=str(config), CONV1D_WAIT_SECONDS="0")
    yield server
    server.stop()


def _shoot(page: Any, name: str) -> None:
    """A full-page screenshot at the page's width, and (on a phone) the overflow check."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=True)
    if width <= 400:
        scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{name}: the page is {scroll} px wide on a {inner} px phone"


def _instructor(browser: Any, server: LiveServer, viewport: dict[str, int]) -> Any:
    page = browser.new_page(viewport=viewport)
    page.goto(server.url + "/instructor")
    page.fill("#token", TOKEN)
    page.click("#sign-in")
    page.wait_for_selector("#app", state="visible")
    return page


def _hand_in(browser: Any, link: str, viewport: dict[str, int], tmp_path: Path, source: str) -> Any:
    context = browser.new_context(viewport=viewport)  # a browser of one's own: one's own cookie
    page = context.new_page()
    page.goto(link)
    page.wait_for_selector("#who:has-text('Signed in as')")
    assert page.url.endswith("/s/")  # the token is off the address bar
    file = tmp_path / "nn.py"
    file.write_text(source)
    page.set_input_files("#file", str(file))
    page.click("#submit")
    return page


def test_a_course_end_to_end(browser: Any, course: LiveServer, tmp_path: Path) -> None:
    # The instructor imports the roster on their page and gets each student's link, once.
    teacher = _instructor(browser, course, DESKTOP)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    teacher.set_input_files("#roster-file", str(roster))
    teacher.click("#import")
    teacher.wait_for_selector("#links tr.link")
    links = {
        row.get_attribute("data-student"): row.locator("code.url").text_content()
        for row in teacher.locator("#links tr.link").all()
    }
    assert set(links) == {"alice", "bob"} and all(link.startswith(course.url + "/s/") for link in links.values())
    _shoot(teacher, "instructor-roster")

    # Alice was ill: her own due date is tomorrow.
    extension = {"due": (NOW + timedelta(days=1)).isoformat()}
    assert httpx.post(f"{course.url}/students/alice/extension", json=extension, headers=AUTH).status_code == 200

    # Alice hands in a correct (slow) file: the id shows as soon as it is stored, before the verdict.
    alice = _hand_in(browser, links["alice"], DESKTOP, tmp_path, slow(1.0))
    alice.wait_for_selector("#stored", state="visible")
    assert alice.locator("#total").count() == 0 and alice.text_content("#stored-id")
    alice.wait_for_selector("#total", timeout=60_000)
    total = alice.text_content("#total") or ""
    score, maximum = (float(x) for x in total.split(" / "))
    assert score == maximum < 100  # her due date is ahead: the after_due_date tests are not shown yet
    assert "(hidden)" not in (alice.text_content("#all-tests") or "")
    assert alice.text_content("#summary") == "Every test passed."
    alice.wait_for_selector("#history tr.past")
    assert alice.locator("#history td.counts").count() == 1
    assert alice.locator("#standing").count() == 0  # on time: nothing to say
    _shoot(alice, "student-alice")
    alice.set_viewport_size(PHONE)
    _shoot(alice, "student-alice")

    # Bob hands in after the due date, with the bias forgotten: late, 2 started days, 80% counts.
    bob = _hand_in(browser, links["bob"], PHONE, tmp_path, BUGGY)
    bob.wait_for_selector("#total", timeout=60_000)
    assert bob.text_content("#total") == "55 / 100"  # his due date passed: every test shows
    assert "80% of this score counts" in (bob.text_content("#standing") or "")
    groups = bob.locator("#summary .group")
    assert groups.count() == 1 and "bias" in (groups.first.text_content() or "")  # 13 failures, one cause
    assert bob.locator("#summary .group code").count() >= 1  # backticks in the hint became <code>
    assert bob.locator("#all-tests").get_attribute("open") is None  # the full table is folded
    bob.wait_for_selector("#counted-score")
    assert bob.text_content("#counted-score") == "Score that counts: 44 (late, 80% counted)"
    _shoot(bob, "student-bob")
    bob.locator("#all-tests > summary").click()
    _shoot(bob, "student-bob-all-tests")
    bob.set_viewport_size(DESKTOP)
    _shoot(bob, "student-bob")

    # The instructor's overview: the plots, the class, Bob's history, his file, a regrade and the gradebook.
    teacher.click("#refresh")
    # The rows are there since the import: wait for the refreshed content, not for rows.
    teacher.locator('#students tr.student[data-student="bob"] td.counted', has_text="44").wait_for()
    counts = [int(b.get_attribute("data-count")) for b in teacher.locator("#histogram g.bin").all()]
    assert len(counts) == 10 and sum(counts) == 2 and counts[9] == 1  # Alice's 100 and Bob's 44
    assert teacher.locator("#pass-rates g.bar").count() > 20
    bars = teacher.locator("#mistakes g.bar").all()
    mistakes = {b.get_attribute("data-name"): b.get_attribute("data-value") for b in bars}
    assert any("bias" in name for name in mistakes) and set(mistakes.values()) == {"1"}
    bob_row = teacher.locator('#students tr.student[data-student="bob"]')
    assert bob_row.locator("td.counted").text_content() == "44 (late)"
    _shoot(teacher, "instructor-overview")

    bob_row.locator("button.show-history").click()
    teacher.wait_for_selector("#history tr.submission")
    assert teacher.locator("#history td.late").count() == 1
    with teacher.expect_download() as got:
        teacher.locator("#history button.download").first.click()
    assert Path(got.value.path()).read_text() == BUGGY
    teacher.locator("#history button.regrade").first.click()
    teacher.wait_for_selector("#diff tr.diff")
    diff = teacher.locator("#diff tr.diff").first
    assert diff.locator("td.before").text_content() == diff.locator("td.after").text_content() == "55"
    assert diff.locator("td.change").text_content() == "0"  # same file, same key: the same verdict
    with teacher.expect_download() as got:
        teacher.click("#gradebook")
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(Path(got.value.path()).read_text()))}
    assert rows["bob"]["counted_score"] == "44" and rows["alice"]["counted_score"] == "100"
    _shoot(teacher, "instructor-history")
    teacher.set_viewport_size(PHONE)
    _shoot(teacher, "instructor-history")
    for page in (teacher, alice, bob):
        page.close()


def test_the_instructor_page_keeps_the_token_for_the_tab_only(browser: Any, course: LiveServer) -> None:
    page = _instructor(browser, course, PHONE)
    assert page.evaluate("() => sessionStorage.length") == 1 and page.evaluate("() => localStorage.length") == 0
    page.reload()
    page.wait_for_selector("#app", state="visible")  # the same tab remembers it
    _shoot(page, "instructor-start")
    page.click("#sign-out")
    assert page.evaluate("() => sessionStorage.length") == 0 and page.is_hidden("#app")
    page.fill("#token", "wrong-token-wrong-token")
    page.click("#sign-in")
    page.wait_for_selector("#status.error")
    assert "refused" in (page.text_content("#status") or "")
    page.close()


def test_without_a_link_the_students_page_says_what_to_do(browser: Any, course: LiveServer) -> None:
    for viewport in (DESKTOP, PHONE):
        page = browser.new_context(viewport=viewport).new_page()
        page.goto(course.url + "/")
        page.wait_for_selector("#status.error")
        assert "personal link" in (page.text_content("#status") or "")
        assert page.is_disabled("#submit") and page.is_hidden("#student")
        _shoot(page, "student-no-link")
        page.close()


def test_the_api_docs_work_offline(browser: Any, course: LiveServer) -> None:
    outside: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(course.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    for viewport in (DESKTOP, PHONE):
        page = browser.new_page(viewport=viewport)
        page.route("**/*", only_the_server)
        page.goto(course.url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "Conv1d autograder" in (page.text_content(".swagger-ui .info .title") or "")
        assert page.locator(".opblock").count() > 10
        assert outside == []
        SCREENS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENS / f"docs-{viewport['width']}.png"))
        page.close()
