"""The sandbox in a real Chromium: a new user's first incident, driven by what the page says.

`python -m bot` runs with no Slack credentials (so it starts the sandbox) on real Redis and SQL; Debian's
`chromium` is driven by playwright through the page's roles and labels, never its CSS classes.
"""

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from storage import Keys
from tests.processes import start_process
from tests.services import is_ci

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "docs" / "sandbox.png"  # the README's; UPDATE_SCREENSHOT=1 makes the test write it

if CHROMIUM is None and not is_ci(os.environ):  # under CI the `browser` fixture fails instead
    pytest.skip("no chromium: apt-get install chromium (CI installs it)", allow_module_level=True)


@pytest.fixture
async def sandbox_url(
    database_url: str, redis_url: str, keys: Keys, redis: object, tmp_path: Path
) -> AsyncIterator[str]:
    """`python -m bot` with no Slack credentials: the bot and its sandbox on a free loopback port."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": keys.prefix,
        "DATA_DIR": str(tmp_path / "var"),
        "RUNBOOKS_DIR": str(ROOT / "runbooks"),
        "LOG_LEVEL": "warning",
    }  # no ONCALL_CONFIG, and no oncall.yaml in the working directory: the sandbox brings its own
    bot = await start_process(env, tmp_path, "bot")
    try:
        yield bot.url + "/"
    finally:
        await bot.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, sandbox_url: str) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 820})
    opened = await context.new_page()
    await opened.goto(sandbox_url)
    yield opened
    await context.close()


async def _say(page: Page, text: str) -> None:
    await page.get_by_role("textbox", name="Message").fill(text)
    await page.get_by_role("button", name="Send").click()


async def _as(page: Page, person: str) -> None:
    await page.get_by_label("Acting as").select_option(label=person)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.timeout(120)
async def test_a_new_users_first_incident(page: Page, tmp_path: Path) -> None:
    """Declare from the composer, see the card, get paged as the on-call, acknowledge in the DM, raise the
    severity, resolve, then write and publish the postmortem through its modals: every step shows on the page."""
    await page.get_by_role("button", name="#general").click()
    await _say(page, "/incident declare Checkout is down sev2")
    reply = page.get_by_role("article", name="only visible to you")
    await expect(reply).to_contain_text("Declared incident #1 (SEV-2): Checkout is down")

    await page.get_by_role("button", name="#inc-1-checkout-is-down").click()
    card = page.get_by_role("article").filter(has_text="#1 Checkout is down").first
    await expect(card).to_contain_text("SEV-2: respond within 1 h")
    await expect(page.get_by_role("log", name="Messages")).to_contain_text("Paged @Priya (on call, primary)")

    await _as(page, "Priya (on call, primary) (@priya)")
    await page.get_by_role("button", name="firebreak (app)").click()
    page_dm = page.get_by_role("article").filter(has_text="You are paged for SEV-2 incident #1")
    await page_dm.get_by_role("button", name="Acknowledge").click()

    await page.get_by_role("button", name="#inc-1-checkout-is-down").click()
    await expect(card).to_contain_text("acknowledged")
    await card.get_by_label("Change severity").select_option(label="SEV-1")
    await expect(card).to_contain_text("SEV-1: respond within 15 min")
    await card.get_by_role("button", name="Resolve").click()
    await page.get_by_role("alertdialog", name="Resolve this incident?").get_by_role("button", name="Resolve").click()
    await expect(card).to_contain_text("resolved")
    await expect(card.get_by_role("button", name="Reopen")).to_be_visible()

    await _as(page, "Casey (incident commander) (@casey)")
    await page.get_by_role("button", name="#inc-1-checkout-is-down").click()
    await card.get_by_role("button", name="Start postmortem").click()
    await expect(page.get_by_role("button", name="Edit: Summary")).to_be_visible()
    await _edit_section(page, "Summary", "Checkout failed for 12 minutes for every customer.")
    await _edit_section(page, "Root cause analysis", "A config push removed the payment provider's key.")
    await page.get_by_role("button", name="Add action item").click()
    item = page.get_by_role("dialog", name="Add action item")
    await item.get_by_label("Action").fill("Validate provider keys before a config push")
    await item.get_by_label("Owner").select_option(label="Priya (on call, primary)")
    await item.get_by_role("button", name="Add").click()
    await expect(item).to_be_hidden()
    await page.get_by_role("button", name="Publish", exact=True).click()
    publish = page.get_by_role("dialog", name="Publish postmortem")
    await publish.get_by_role("button", name="Publish").click()
    await expect(publish).to_be_hidden()
    log = page.get_by_role("log", name="Messages")
    await expect(log).to_contain_text("Validate provider keys before a config push")
    await expect(card).to_contain_text("closed")
    await page.screenshot(path=SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "sandbox.png")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.timeout(120)
async def test_the_declare_modal_shows_errors_under_the_field(page: Page) -> None:
    """`/incident declare` opens the modal; a blank title is refused under the field, as Slack shows it."""
    await page.get_by_role("button", name="#general").click()
    await _say(page, "/incident declare")
    dialog = page.get_by_role("dialog", name="Declare an incident")
    await dialog.get_by_label("Title").fill("   ")
    await dialog.get_by_role("button", name="Declare").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Give the incident a title.")
    await dialog.get_by_label("Title").fill("Search is slow")
    await dialog.get_by_role("button", name="Declare").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_role("button", name="#inc-1-search-is-slow")).to_be_visible()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.timeout(120)
async def test_an_alert_fired_from_the_page_opens_an_incident(page: Page) -> None:
    """ "Critical alert fires" posts a captured Alertmanager notification; its incident channel appears."""
    await page.get_by_role("region", name="Fire an alert").get_by_role("button", name="Critical alert fires").click()
    await expect(page.get_by_role("status")).to_have_text("Critical alert fires: HTTP 200")
    channel = page.get_by_role("navigation", name="Conversations").get_by_role("button", name="#inc-1-")
    await expect(channel).to_be_visible()
    await channel.click()
    await expect(page.get_by_role("log", name="Messages")).to_contain_text("Alerts:")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.timeout(120)
async def test_a_drill_played_from_the_page(page: Page) -> None:
    """The "Checkout outage" drill shows its hint and fires its alert: the incident channel opens."""
    await page.get_by_role("region", name="Drills").get_by_role("button", name="Checkout outage").click()
    hint = page.get_by_role("complementary", name="Drill hint")
    await expect(hint).to_contain_text("acknowledge the page")
    channel = page.get_by_role("navigation", name="Conversations").get_by_role("button", name="#drill-inc-1-")
    await expect(channel).to_be_visible()
    await channel.click()
    log = page.get_by_role("log", name="Messages")
    await expect(log).to_contain_text("Runbook for CheckoutHighErrorRate")
    await expect(log).to_contain_text("DRILL")


async def _edit_section(page: Page, heading: str, text: str) -> None:
    """Open a draft section's Edit modal (the button is named after its section), write, save."""
    await page.get_by_role("button", name=f"Edit: {heading}").click()
    dialog = page.get_by_role("dialog", name=heading)
    await dialog.get_by_label(heading).fill(text)
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
