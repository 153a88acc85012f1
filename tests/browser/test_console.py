"""The console in a browser, against a real server process: what it shows and what its buttons
do, checked through Label Studio's API with the official SDK."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import ADA_TOKEN, Emulator
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "console.png"


def sdk(emulator: Emulator) -> LabelStudio:
    return LabelStudio(base_url=emulator.url, api_key=ADA_TOKEN)


def open_console(page: Page, emulator: Emulator) -> None:
    page.goto(emulator.url + "/")
    expect(page.locator("#live")).to_have_text("live")


def run_row(page: Page, run_id: int):
    return page.locator(f'#runs tr[data-id="{run_id}"]')


def test_a_run_started_in_the_console_is_listed_by_the_sdk(page: Page, emulator: Emulator):
    open_console(page, emulator)
    expect(page.locator("#runs-empty")).to_be_visible()
    page.get_by_label("Version").first.select_option("2")
    page.locator("#start-project").select_option("1")
    page.get_by_role("button", name="Start run").click()
    row = page.locator("#runs tbody tr").first
    expect(row).to_contain_text("Ticket sentiment / few-shot")
    run_id = int(row.get_attribute("data-id") or 0)
    runs = sdk(emulator).prompts.runs.list(prompt_id=1, version_id=2)
    assert [(r.id, r.project, r.project_subset, r.status) for r in runs] == [
        (run_id, 1, "HasGT", "Pending")
    ]


def test_an_sdk_run_appears_live_and_its_bar_fills_as_the_console_moves_the_clock(
    page: Page, emulator: Emulator
):
    open_console(page, emulator)
    run = sdk(emulator).prompts.runs.create(prompt_id=1, version_id=1, project=1)
    row = run_row(page, run.id)
    expect(row).to_contain_text("Pending")  # pushed, no reload
    bar = row.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    page.get_by_role("button", name="+10 s").click()
    expect(row).to_contain_text("Completed")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(bar).to_contain_text("(90/90)")
    listed = sdk(emulator).prompts.runs.list(prompt_id=1, version_id=1)
    assert [(r.id, r.status, r.total_predictions) for r in listed] == [(run.id, "Completed", 90)]


def test_cancel_in_the_console_cancels_the_run_for_the_api(page: Page, emulator: Emulator):
    open_console(page, emulator)
    run = sdk(emulator).prompts.runs.create(prompt_id=1, version_id=1, project=2)
    row = run_row(page, run.id)
    row.get_by_role("button", name="Cancel").click()
    expect(row).to_contain_text("Canceled")
    expect(row.get_by_role("button", name="Cancel")).to_be_disabled()
    listed = sdk(emulator).prompts.runs.list(prompt_id=1, version_id=1)
    assert [(r.id, r.status) for r in listed] == [(run.id, "Canceled")]


def test_reset_in_the_console_asks_first_then_empties_the_runs(page: Page, emulator: Emulator):
    client = sdk(emulator)
    run = client.prompts.runs.create(prompt_id=1, version_id=1, project=1)
    open_console(page, emulator)
    expect(run_row(page, run.id)).to_be_visible()
    page.get_by_role("button", name="Reset…").click()
    page.get_by_role("button", name="Keep everything").click()
    assert len(client.prompts.runs.list(prompt_id=1, version_id=1)) == 1
    page.get_by_role("button", name="Reset…").click()
    page.get_by_role("dialog").get_by_role("button", name="Reset", exact=True).click()
    expect(page.locator("#message")).to_have_text("The emulator is back to its boot state.")
    expect(page.locator("#runs-empty")).to_be_visible()
    assert client.prompts.runs.list(prompt_id=1, version_id=1) == []


def test_the_journal_shows_an_sdk_call_live(page: Page, emulator: Emulator):
    open_console(page, emulator)
    sdk(emulator).prompts.runs.list(prompt_id=1, version_id=2)
    entry = page.locator("#requests tbody tr").first
    expect(entry).to_contain_text("GET /api/prompts/1/versions/2/inference-runs")
    expect(entry).to_contain_text("200")
    expect(entry).to_contain_text("ada@acme.test")


def test_a_fault_rule_added_in_the_console_fails_the_next_sdk_call(page: Page, emulator: Emulator):
    open_console(page, emulator)
    form = page.locator("#fault-form")
    form.get_by_label("Method").fill("GET")
    form.get_by_label("Path").fill("/api/prompts/1/versions/1/inference-runs")
    form.get_by_label("Status").fill("503")
    form.get_by_label("Times").fill("3")  # the SDK's three attempts
    form.get_by_role("button", name="Add rule").click()
    expect(page.locator("#faults li")).to_have_count(1)
    expect(page.locator("#faults li").first).to_contain_text("503")

    with pytest.raises(ApiError) as refused:
        sdk(emulator).prompts.runs.list(prompt_id=1, version_id=1)
    assert refused.value.status_code == 503
    expect(page.locator("#requests tbody tr").first).to_contain_text("503")
    # The rule is spent: the next call goes through.
    assert sdk(emulator).prompts.runs.list(prompt_id=1, version_id=1) is not None
    with emulator.client(token=None) as control:
        (rule,) = control.get("/_emulator/faults").json()
        assert rule["fired"] == 3
        control.delete("/_emulator/faults").raise_for_status()


def test_a_run_shows_its_timeline_tasks_and_accuracy_chart(page: Page, emulator: Emulator):
    client = sdk(emulator)
    first = client.prompts.runs.create(prompt_id=1, version_id=2, project=1)
    with emulator.client(token=None) as control:
        control.post("/_emulator/clock/run-out").raise_for_status()
    second = client.prompts.runs.create(prompt_id=1, version_id=2, project=1)
    open_console(page, emulator)
    page.get_by_role("button", name="To the end of all runs").click()
    expect(run_row(page, second.id)).to_contain_text("Completed")
    run_row(page, second.id).get_by_role("button", name="Details").click()
    detail = page.locator("#run-detail")
    expect(detail.get_by_role("heading", name=f"Run #{second.id}")).to_be_focused()
    expect(page.locator("#detail-timeline li")).to_have_count(2)
    expect(page.locator("#detail-timeline")).to_contain_text("Pending → InProgress")
    expect(page.locator("#detail-task-count")).to_have_text("90 in all")
    expect(page.locator("#detail-tasks tbody tr")).to_have_count(90)
    expect(detail.get_by_role("img", name="Correct share per run").locator("circle")).to_have_count(
        2
    )
    assert first.id < second.id
    expect(page.locator("#detail-indicators")).to_be_visible()


def test_an_api_error_is_shown_as_the_envelope_detail(page: Page, emulator: Emulator):
    open_console(page, emulator)
    run = sdk(emulator).prompts.runs.create(prompt_id=1, version_id=1, project=1)
    row = run_row(page, run.id)
    row.get_by_role("button", name="Details").click()
    move = page.locator("#transition")
    move.get_by_label("To").select_option("Failed")
    move.get_by_role("button", name="Move").click()  # not along the lifecycle graph
    expect(page.locator("#message")).to_contain_text(
        f"to: Run {run.id} is Pending; it can move to: InProgress, Canceled."
    )
    move.get_by_label("To").select_option("InProgress")
    move.get_by_role("button", name="Move").click()
    expect(row).to_contain_text("InProgress")
    expect(page.locator("#detail-timeline")).to_contain_text("Pending → InProgress")


def test_the_console_asks_for_the_admin_token_and_streams_with_a_ticket(browser, start_emulator):
    emulator = start_emulator(admin_token="console-secret-token")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(emulator.url + "/")
    page.get_by_label("Admin token").fill("wrong")
    page.get_by_role("button", name="Open the console").click()
    expect(page.locator("#login-error")).to_have_text("Invalid token.")
    page.get_by_label("Admin token").fill("console-secret-token")
    page.get_by_role("button", name="Open the console").click()
    expect(page.locator("#live")).to_have_text("live")
    run = sdk(emulator).prompts.runs.create(prompt_id=1, version_id=1, project=1)
    expect(run_row(page, run.id)).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 1
    page.reload()  # the token stays for the tab
    expect(page.locator("#live")).to_have_text("live")
    context.close()


def test_docs_and_redoc_render_with_the_internet_blocked(page: Page, emulator: Emulator):
    origin = emulator.url
    outside: list[str] = []

    def only_the_server(route):
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == origin or parts.scheme == "data":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    # Both pages render the whole definition in the browser: seconds on a busy machine.
    rendered = 60_000
    page.goto(origin + "/docs")
    expect(page.locator(".opblock-summary-path", has_text="/inference-runs").first).to_be_visible(
        timeout=rendered
    )
    expect(page.locator(".opblock-tag-section").first).to_be_visible(timeout=rendered)
    page.goto(origin + "/redoc")
    expect(page.locator("h2", has_text="Run prompt inference").first).to_be_visible(
        timeout=rendered
    )
    assert outside == []


def test_the_console_fits_a_phone_screen(browser, emulator: Emulator):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    open_console(page, emulator)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.get_by_role("button", name="Start run")).to_be_visible()
    context.close()


def test_screenshot_of_the_console_for_the_readme(page: Page, emulator: Emulator):
    client = sdk(emulator)
    with emulator.client(token=None) as control:
        slow = {"queue_delay_seconds": 2, "tasks_per_second": 10, "batch_size": 10}
        control.put("/_emulator/policy", json=slow).raise_for_status()
        for version, project in ((1, 1), (2, 1), (2, 2)):
            client.prompts.runs.create(prompt_id=1, version_id=version, project=project)
        open_console(page, emulator)
        # The next runs are created once the clock has moved: a run created while an advance
        # is settling starts at the instant the advance left, and would be over at once.
        with page.expect_response(lambda answer: answer.url.endswith("/_emulator/clock/run-out")):
            page.get_by_role("button", name="To the end of all runs").click()
        expect(page.locator("#runs tbody tr").first).to_contain_text("Completed")
        client.prompts.runs.create(prompt_id=1, version_id=2, project=1, project_subset="All")
        client.prompts.runs.create(prompt_id=1, version_id=1, project=2, project_subset="All")
        expect(page.locator("#runs tbody tr")).to_have_count(5)
        page.get_by_role("button", name="+10 s").click()
        expect(page.locator("#runs tbody tr").first).to_contain_text("InProgress")
        expect(page.locator("#runs tbody tr").first).to_contain_text("(80/120)")
    run_row(page, 2).get_by_role("button", name="Details").click()
    expect(page.locator("#detail-task-count")).to_have_text("90 in all")
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_console_is_not_served_when_the_control_plane_is_off(start_emulator):
    emulator = start_emulator(control_enabled=False)
    with emulator.client(token=None) as client:
        page = client.get("/")
        assert page.status_code == 404
        assert page.json()["detail"] == "Not found."
        assert client.get("/_emulator/console/console.js").status_code == 404
        assert client.get("/docs").status_code == 200
        assert client.get("/docs/assets/swagger-ui/swagger-ui-bundle.js").status_code == 200
