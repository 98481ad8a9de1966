"""A newcomer's first session, in a real browser against a real Home Assistant.

Onboarding, then Add integration > Meterit for each kind (P1 meter with the button press, PVPC
prices from the simulated ESIOS, a power webhook and a reading posted to the URL it shows),
live values on the device page, the energy dashboard set up with Meterit's statistics, and an
action run from the developer tools. Assertions are on what the page shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
import json
from pathlib import Path
import re
import time
import urllib.request
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect
import pytest

from custom_components.meterit.esios import Region, parse_public_file

from .conftest import HomeAssistantUnderTest

MADRID = ZoneInfo("Europe/Madrid")
USER, PASSWORD = "newcomer", "a long enough password"
# The visible text of the page, shadow roots included (innerText stops at them).
DEEP_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) out.push(text);
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (["STYLE", "SCRIPT", "TEMPLATE"].includes(node.tagName)) return;
      if (node.checkVisibility && !node.checkVisibility()) return;
      if (node.shadowRoot) walk(node.shadowRoot);
    }
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out.join("\\n");
}"""
RAW_KEY = re.compile(r"component\.meterit\.|\[%key:|\bui\.(panel|dialogs|common|components)\.")

pytestmark = pytest.mark.timeout(300)


class Walk:
    """The page, the Home Assistant behind it, and the step being walked (for failures)."""

    def __init__(self, page: Page, ha: HomeAssistantUnderTest) -> None:
        self.page = page
        self.ha = ha
        self.step = "start"

    @contextmanager
    def doing(self, step: str) -> Iterator[None]:
        """Name the step; afterwards check the page for raw keys and error toasts."""
        self.step = step
        try:
            yield
            self.check_page()
        except Exception as err:
            raise AssertionError(f"step {step!r}: {err}") from err

    def check_page(self) -> None:
        """No untranslated key and no error toast on the page."""
        text = self.text()
        assert not RAW_KEY.search(text), f"raw translation key on the page: {text[:2000]}"
        toasts = self.page.locator("ha-toast")
        for index in range(toasts.count()):
            toast = toasts.nth(index)
            if toast.is_visible():
                raise AssertionError(f"toast shown: {toast.inner_text()}")

    def text(self) -> str:
        """What the page shows, one text node a line."""
        return str(self.page.evaluate(DEEP_TEXT))

    def open(self, path: str) -> None:
        """Go to a panel of Home Assistant."""
        self.page.goto(self.ha.url + path)

    def button(self, name: str) -> None:
        """Click the (visible) button called ``name``."""
        self.page.get_by_role("button", name=name, exact=True).click()

    def add_meterit(self, kind: str) -> None:
        """Settings > Devices & services > Add integration > Meterit > ``kind``."""
        self.open("/config/integrations/dashboard")
        self.button("Add integration")
        # the dialog's own search box: waited for, so the page's filter box (behind the dialog,
        # there first on a slow machine) is never the one typed into
        dialog = self.page.locator("dialog-add-integration")
        dialog.get_by_placeholder(re.compile("Search", re.IGNORECASE)).fill("Meterit")
        dialog.get_by_text("Meterit", exact=True).click()
        self.page.get_by_text(kind, exact=True).click()

    def finish_flow(self, device: str | None) -> None:
        """The flow's success dialog: the device it made, then close."""
        dialog = self.page.locator("dialog-data-entry-flow")
        if device is not None:
            expect(dialog.get_by_text(device).first).to_be_visible()
        finish = dialog.get_by_role("button", name=re.compile("^(Skip and finish|Finish)$"))
        finish.click()
        expect(finish).to_be_hidden()

    def open_device(self, name: str) -> None:
        """Settings > Devices & services > Devices > ``name``."""
        self.open("/config/devices/dashboard")
        self.page.get_by_text(name, exact=True).filter(visible=True).first.click()
        info = self.page.get_by_text(re.compile("^(Device|Service) info$"))
        expect(info.filter(visible=True)).to_have_count(1)

    def pick(self, picker: Locator, search: str, option: str) -> None:
        """Open a picker, search, choose the option whose text is ``option``."""
        picker.click()
        self.page.get_by_placeholder(re.compile("^Search")).filter(visible=True).last.fill(search)
        self.page.get_by_text(option, exact=True).first.click()

    def value_shown(self, name: str, unit: str) -> float:
        """The number beside ``name`` on a device page (``1,234.5 W`` -> 1234.5)."""
        text = self.text()
        pattern = rf"^{re.escape(name)}\n(-?[\d.,]+) ?{re.escape(unit)}$"
        match = re.search(pattern, text, re.MULTILINE)
        assert match is not None, f"no {name} in {unit} shown: {text[:3000]}"
        return float(match.group(1).replace(",", ""))


def test_a_newcomer_sets_up_each_kind_and_sees_it_work(
    page: Page, home_assistant: HomeAssistantUnderTest, fixtures_dir: Path
) -> None:
    walk = Walk(page, home_assistant)
    with walk.doing("onboarding"):
        onboard(walk)
    with walk.doing("P1 meter"):
        add_p1_meter(walk)
    with walk.doing("PVPC prices"):
        prices = add_prices(walk, fixtures_dir)
    with walk.doing("power webhook"):
        add_webhook(walk)
    with walk.doing("developer tools action"):
        run_action(walk, prices)
    with walk.doing("energy dashboard"):
        configure_energy(walk)
    log = home_assistant.log_text()
    assert "Attempting install of" not in log  # scripts/setup installed what it loads
    assert not re.search(r"ERROR .*custom_components\.meterit", log), log


def onboard(walk: Walk) -> None:
    """Welcome > user > location > country > analytics > done."""
    page = walk.page
    walk.open("/")
    walk.button("Create my smart home")
    page.locator("input[name=name]").fill("New Comer")
    page.locator("input[name=username]").fill(USER)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password_confirm]").fill(PASSWORD)
    walk.button("Create account")
    expect(page.get_by_text("Home location")).to_be_visible()
    walk.button("Next")
    expect(page.get_by_text("country your home is in")).to_be_visible()
    walk.button("Next")
    expect(page.get_by_text("Help us help you")).to_be_visible()
    walk.button("Next")
    expect(page.get_by_text("All set!")).to_be_visible()
    walk.button("Finish")
    page.wait_for_url("**/home/**")
    expect(page.get_by_text("Welcome New Comer")).to_be_visible()


def add_p1_meter(walk: Walk) -> None:
    """Host, the button press the meter asks for, the device."""
    page = walk.page
    walk.add_meterit("HomeWizard P1 meter (live)")
    page.locator("input[name=host]").fill(walk.ha.meter.url)
    walk.button("Submit")
    expect(page.get_by_text("Press the button on the P1 meter")).to_be_visible()
    walk.ha.press_meter_button()
    walk.button("Submit")
    walk.finish_flow("P1 Meter")
    # the device page: the meter's pushes reach it live
    walk.open_device("P1 Meter")
    expect(page.get_by_text("Serial number: 5c2fafaabbcc")).to_be_visible()
    expect(page.get_by_text("Energy import tariff 2")).to_be_visible()
    first = walk.value_shown("Power", "W")
    deadline = time.monotonic() + 15
    while walk.value_shown("Power", "W") == first:
        assert time.monotonic() < deadline, f"Power stayed at {first} for 15 s"
        page.wait_for_timeout(250)


def add_prices(walk: Walk, fixtures_dir: Path) -> dict[int, float]:
    """Region Península, no token: the simulated ESIOS's public file; its prices by hour."""
    walk.add_meterit("PVPC electricity prices (Spain)")
    walk.button("Submit")
    walk.finish_flow(None)
    walk.open_device("PVPC Península")
    expected = template_prices(fixtures_dir)
    shown = walk.value_shown("Current price", "€/kWh")
    hour = datetime.now(MADRID).hour
    # the price of this Madrid clock hour (or of the next, at the turn of the hour)
    assert shown in {round(expected[hour], 5), round(expected[(hour + 1) % 24], 5)}, shown
    return expected


def template_prices(fixtures_dir: Path) -> dict[int, float]:
    """The simulated ESIOS's prices by Madrid clock hour: its newest public file's, moved."""
    day = date(2022, 3, 27)  # 23 hours: 02-03 takes 01-02's price
    payload = json.loads((fixtures_dir / "esios" / "PVPC_CURV_DD_2022_03_27.json").read_text())
    periods = parse_public_file(payload, region=Region.PENINSULA, day=day).periods
    by_hour = {period.start.astimezone(MADRID).hour: period.price for period in periods}
    return {hour: by_hour[hour] if hour in by_hour else by_hour[hour - 1] for hour in range(24)}


def add_webhook(walk: Walk) -> None:
    """Create the webhook, then POST the example body to the URL the dialog shows."""
    page = walk.page
    walk.add_meterit("Power sensors (webhook)")
    page.locator("input[name=name]").fill("Barn")
    walk.button("Submit")
    dialog = page.locator("dialog-data-entry-flow")
    expect(dialog.get_by_text("Point your power sensors at this webhook")).to_be_visible()
    text = walk.text()
    match = re.search(r"(http://\S+/api/webhook/[0-9a-f]{64})", text)
    assert match is not None, text
    url = match.group(1)
    assert url.startswith(walk.ha.url + "/"), (url, walk.ha.url)
    request = urllib.request.Request(  # noqa: S310 - the loopback URL just shown
        url,
        data=json.dumps({"watts": 123.4, "station_id": 1}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200
        assert json.loads(answer.read())["stored"] == 1
    walk.finish_flow(None)
    # the reading made a device of its station
    walk.open_device("Station 1")
    assert walk.value_shown("Power", "W") == round(123.4)  # shown in whole watts


def configure_energy(walk: Walk) -> None:
    """Settings > Dashboards > Energy: the P1 meter's import and export, priced by PVPC."""
    page = walk.page
    walk.open("/config/energy")
    walk.button("Add grid connection")
    walk.pick(page.get_by_text("Select a statistic").first, "Energy import", "Energy import")
    walk.pick(page.get_by_text("Select a statistic").first, "Energy export", "Energy export")
    page.get_by_text("Use an entity with current price").click()
    walk.pick(page.get_by_text("Select an entity").first, "Current price", "Current price")
    walk.button("Save")
    expect(page.get_by_text("P1 Meter Energy import").filter(visible=True)).to_have_count(1)
    # the dashboard itself: configured, so no set-up wizard but the grid's flow
    walk.open("/energy")
    expect(page.get_by_text("Energy distribution").filter(visible=True).first).to_be_visible()
    expect(page.get_by_text("Grid total").filter(visible=True).first).to_be_visible()


def run_action(walk: Walk, prices: dict[int, float]) -> None:
    """Developer tools > Actions: Meterit's get prices; its response has the current price."""
    page = walk.page
    walk.open("/developer-tools/action")
    walk.pick(page.get_by_text("Action", exact=True).first, "get prices", "meterit.get_prices")
    walk.button("Perform action")
    expect(page.get_by_text("region: peninsula")).to_be_visible()
    text = walk.text()
    shown = [float(value) for value in re.findall(r"\bprice\s*:\s*(-?[\d.]+)", text)]
    # the editor renders the lines in view: today's first hours, from local midnight
    assert len(shown) >= 3, text[-3000:]
    assert shown == [round(prices[hour], 5) for hour in range(len(shown))]
