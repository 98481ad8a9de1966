"""A real Home Assistant (subprocess) with the P1 and ESIOS simulators, and Debian's chromium.

Skipped only when chromium or Playwright is missing and ``CI`` is not set; under ``CI=true`` a
missing browser fails the run. ``scripts/setup`` installs both.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
import importlib.util
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING
import urllib.error
import urllib.request

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 120.0
ARTIFACTS = ROOT / ".browser-artifacts"
"""Screenshots (and Home Assistant's log) of a failed walk land here."""


def _missing_browser() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian: apt-get install chromium; scripts/setup does it)"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        return "Playwright for Python is missing (scripts/setup installs requirements_test.txt)"
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# Without Playwright the walk cannot even be imported: outside CI it is left out (and the header
# says why); under CI the import error fails the run.
NO_PLAYWRIGHT = importlib.util.find_spec("playwright") is None
collect_ignore = ["test_walkthrough.py"] if NO_PLAYWRIGHT and not _in_ci() else []


def pytest_report_header() -> str | None:
    """Say why the browser test will not run, if it will not."""
    reason = _missing_browser()
    return None if reason is None else f"browser test: cannot run: {reason}"


@pytest.fixture
def browser_available() -> None:
    """Skip without a browser, unless under CI (``CI`` set): there a missing browser fails."""
    if (reason := _missing_browser()) is None:
        return
    if _in_ci():
        pytest.fail(f"CI is set and the browser test cannot run: {reason}")
    pytest.skip(f"no browser: {reason}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item (the page fixture screenshots failures)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(slots=True)
class Simulator:
    """A simulator child process and the address it printed."""

    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        """Terminate and reap the process."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_simulator(args: list[str], pattern: str, cwd: Path) -> Simulator:
    """Start ``python -m <args>`` and wait for the line that gives its URL."""
    process = subprocess.Popen(  # noqa: S603 - our own simulator
        [sys.executable, "-m", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if match := re.search(pattern, line):
            return Simulator(process, match.group(1))
        if process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"{args[0]} did not start: {''.join(seen)}")


@dataclass(slots=True)
class HomeAssistantUnderTest:
    """The running Home Assistant and its simulators."""

    url: str
    config_dir: Path
    log: Path
    meter: Simulator
    esios: Simulator

    def press_meter_button(self) -> None:
        """What a person does at the meter (``scripts/develop --press``)."""
        self.meter.process.send_signal(signal.SIGUSR1)

    def log_text(self) -> str:
        """Home Assistant's output so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def home_assistant(
    browser_available: None, socket_enabled: None, tmp_path: Path
) -> Iterator[HomeAssistantUnderTest]:
    """``hass -c tmp`` on a free loopback port, configured as ``scripts/develop`` does."""
    config = tmp_path / "config"
    port = free_port()
    write = [sys.executable, str(ROOT / "scripts" / "dev_config.py"), "write", str(config)]
    subprocess.run([*write, "--port", str(port)], check=True)  # noqa: S603 - our own script
    (config / "custom_components").mkdir()
    (config / "custom_components" / "meterit").symlink_to(ROOT / "custom_components" / "meterit")
    meter = start_simulator(
        ["simulator.p1_meter", "--port", "0", "--cert-dir", str(tmp_path / "p1")],
        r"P1 meter at https://(\S+)",
        ROOT,
    )
    esios = start_simulator(
        ["simulator.esios", "--port", "0", "--moved-days"], r"Fake ESIOS on (\S+)", ROOT
    )
    env = {
        **os.environ,
        "METERIT_P1_EXTRA_CA_FILE": str(tmp_path / "p1" / "ca.pem"),
        "METERIT_ESIOS_BASE_URL": esios.url,
    }
    log = tmp_path / "hass.log"
    with log.open("w", encoding="utf-8") as out:
        hass = subprocess.Popen(  # noqa: S603 - Home Assistant from our venv
            [str(Path(sys.executable).parent / "hass"), "-c", str(config)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ha = HomeAssistantUnderTest(f"http://127.0.0.1:{port}", config, log, meter, esios)
    try:
        _wait_until_serving(ha, hass)
        yield ha
    finally:
        hass.send_signal(signal.SIGTERM)
        try:
            hass.wait(30)
        except subprocess.TimeoutExpired:
            hass.kill()
            hass.wait()
        meter.stop()
        esios.stop()


def _wait_until_serving(ha: HomeAssistantUnderTest, hass: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if hass.poll() is not None:
            raise RuntimeError(f"Home Assistant exited ({hass.returncode}):\n{ha.log_text()}")
        try:
            with urllib.request.urlopen(f"{ha.url}/api/onboarding", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except urllib.error.URLError, OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"Home Assistant did not serve within {START_TIMEOUT:g} s")


@pytest.fixture
def browser(browser_available: None) -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(
    browser: Browser, home_assistant: HomeAssistantUnderTest, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """One tab, a laptop-sized window, English; a failed test leaves a screenshot and the log."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name
        tab.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        shutil.copy(home_assistant.log, ARTIFACTS / f"{name}-home-assistant.log")
        print(f"browser test failed: screenshot and log in {ARTIFACTS}")  # noqa: T201
    context.close()
