"""Every page a signed-in newcomer can reach: signed-in navigation, no console error, fits a phone.

One account is seeded through the real panel (a provisioned lab server, a sending domain, a
Cloudflare account with the domain's zone linked and a plan, an NVIDIA key and a draft), then a
crawler follows every same-origin link from the overview.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest

from tests.browser.conftest import Panel, add_provisioned_server, running_panel, sign_up_and_verify

pytestmark = [pytest.mark.browser, pytest.mark.lab]

PASSWORD = "a long and unusual passphrase 12"
DOMAIN = "example.test"  # a zone of the lab's Cloudflare account; test_dns_ui.py uses shop.test
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
MAX_PAGES = 200
# Signing out, the staff site and the account's sign-out page are not pages to visit.
NOT_FOLLOWED = ("/account/logout", "/staff/")
UNITS = {"KiB": 1, "MiB": 1024, "GiB": 1024**2, "TiB": 1024**3, "PiB": 1024**4}


# The innermost elements that reach past the viewport's right edge, to say what to fix.
OVERFLOWING = """() => {
  const past = e => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !scrolled(e);
  const scrolled = e => e.parentElement && e.parentElement !== document.body
    && (["auto", "scroll", "hidden"].includes(getComputedStyle(e.parentElement).overflowX)
      || scrolled(e.parentElement));
  return [...document.querySelectorAll("main *, header *")]
    .filter(e => past(e) && ![...e.children].some(past))
    .slice(0, 3)
    .map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "")
      + " " + JSON.stringify((e.textContent || "").trim().slice(0, 30)));
}"""


@dataclass
class Seeded:
    context: Any  # a signed-in Playwright browser context
    host: Any  # the lab host behind the server
    server_url: str
    plan_url: str
    setup_url: str


@pytest.fixture(scope="module")
def lab_panel(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    env = {
        "MAILPANEL_DNS_RESOLVERS": lab.dns_address,
        "MAILPANEL_DNS_RESOLVER_PORT": "53",
        "MAILPANEL_CLOUDFLARE_API_URL": lab.peers.cloudflare_url,
        "MAILPANEL_NVIDIA_API_URL": lab.peers.llm_url,
    }
    with running_panel(tmp_path_factory.mktemp("panel-every-page"), env) as panel:
        yield panel


@pytest.fixture(scope="module")
def seeded(lab: Any, lab_panel: Panel, browser: Any) -> Iterator[Seeded]:
    """An account with one of each object, made through the panel's own pages."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    page = context.new_page()
    sign_up_and_verify(page, lab_panel, "newcomer@example.test", PASSWORD)
    host = lab.hosts[0]
    server_url = add_provisioned_server(page, lab_panel, host, "mail1")
    plan_url = connect_cloudflare_and_plan(page, lab_panel, lab.peers)
    write_a_draft(page, lab_panel, lab.peers.llm_key)
    server_id = server_url.rstrip("/").rsplit("/", 1)[-1]
    page.close()
    yield Seeded(context, host, server_url, plan_url, f"{lab_panel.url}/dns/setup/{server_id}/")
    context.close()


def connect_cloudflare_and_plan(page: Any, panel: Panel, peers: Any) -> str:
    """A Cloudflare account, a sending domain linked to its zone, a plan; returns the plan URL."""
    page.goto(panel.url + "/credentials/add/?kind=cloudflare")
    page.get_by_label("Name", exact=True).fill("Cloudflare lab")
    page.get_by_label("API token").fill(peers.cloudflare_token)
    page.get_by_role("button", name="Store encrypted").click()
    page.wait_for_url("**/credentials/*/")
    page.goto(panel.url + "/dns/accounts/add/")
    page.get_by_label("Credential").select_option(label="Cloudflare lab")
    page.get_by_label("Label").fill("lab account")
    page.get_by_role("button", name="Connect and test").click()
    page.wait_for_selector("[data-job-state]:has-text('Succeeded')", timeout=60_000)

    page.goto(panel.url + "/domains/add/")
    page.get_by_label("Domain", exact=True).fill(DOMAIN)
    page.get_by_label("Server", exact=True).select_option(label="mail1")
    page.get_by_role("button", name="Add domain").click()
    page.wait_for_url(re.compile(r".*/domains/[0-9a-f-]{36}/$"))
    page.get_by_role("link", name="Publish them at your DNS provider").click()
    page.get_by_role("button", name="Find the zone automatically").click()
    assert DOMAIN in page.locator("[data-zone]").inner_text()
    page.get_by_role("button", name="Plan").click()
    page.wait_for_selector("[data-plan-state='planned']", timeout=60_000)
    return str(page.url)


def write_a_draft(page: Any, panel: Panel, key: str) -> None:
    page.goto(panel.url + "/credentials/add/?kind=nvidia")
    page.get_by_label("Name").fill("My NVIDIA key")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Store encrypted").click()
    page.wait_for_url("**/credentials/*/")
    page.goto(panel.url + "/assistant/settings/")
    page.get_by_label("NVIDIA API key").select_option(label="My NVIDIA key")
    page.get_by_role("button", name="Check and save").click()
    page.wait_for_url(panel.url + "/assistant/")
    page.get_by_label("What are you offering?").fill("Spring gardening tools, 20% off")
    page.get_by_label("Who is it for?").fill("hobby gardeners")
    page.get_by_label("Sender name").fill("Greenhouse Goods")
    page.get_by_role("button", name="Write").click()
    page.wait_for_url(re.compile(r".*/assistant/drafts/[0-9a-f-]{36}/$"))
    page.wait_for_selector("[data-score]", timeout=60_000)


def followable(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin:
        return False
    return not parts.path.startswith(NOT_FOLLOWED)


def check_page(page: Any, errors: list[str]) -> list[str]:
    """What is wrong with the page loaded in ``page``, given the errors it logged."""
    problems = [f"console: {text}" for text in errors]
    if page.locator("#main-nav").count() != 1:
        problems.append("no signed-in navigation (#main-nav)")
    if page.locator("header").get_by_role("link", name="Sign in").count():
        problems.append('"Sign in" link in the header')
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        culprits = ", ".join(page.evaluate(OVERFLOWING))
        problems.append(f"{width[0]} px wide in a {width[1]} px viewport ({culprits})")
    return problems


def crawl(context: Any, start: str, origin: str) -> tuple[list[str], dict[str, list[str]]]:
    """Visit every same-origin HTML page reachable from ``start``; returns visited and problems."""
    page = context.new_page()
    page.set_viewport_size(PHONE)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught {exc}"))
    queue, seen = deque([start]), {start}
    visited: list[str] = []
    failures: dict[str, list[str]] = {}
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        # Exports and other downloads are links too: only HTML pages are visited.
        head = page.request.head(url)
        html = "text/html" in head.headers.get("content-type", "")
        if not html or "attachment" in head.headers.get("content-disposition", ""):
            continue
        errors.clear()
        response = page.goto(url)
        page.wait_for_timeout(150)  # scripts that run after load (streams, htmx) may log errors
        visited.append(url)
        problems = check_page(page, errors)
        if response is None or response.status >= 400:
            problems.append(f"status {response.status if response else 'none'}")
        if problems:
            failures[url] = problems
        hrefs: list[str] = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        for href in (urldefrag(h).url for h in hrefs):
            if href not in seen and followable(href, origin):
                seen.add(href)
                queue.append(href)
    page.close()
    return visited, failures


def test_every_page_shows_the_signed_in_navigation_logs_no_error_and_fits_a_phone(
    lab_panel: Panel, seeded: Seeded
) -> None:
    visited, failures = crawl(seeded.context, lab_panel.url + "/overview/", lab_panel.url)
    paths = {urlsplit(url).path for url in visited}
    kinds = ("servers", "domains", "dns/accounts", "dns/plans", "dns/setup", "jobs")
    for kind in (*kinds, "credentials", "assistant/drafts"):
        assert any(re.match(rf"/{kind}/[0-9a-f-]{{36}}/$", p) for p in paths), f"no {kind} page"
    assert len(visited) < MAX_PAGES, "the crawl did not finish: more pages than expected"
    report = [f"{url} → {'; '.join(problems)}" for url, problems in failures.items()]
    assert not report, f"{len(report)} of {len(visited)} pages:\n" + "\n".join(report)


def ssh_root(host: Any, command: str) -> str:
    result = subprocess.run(
        ["ssh", "-i", str(host.root_key_path), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         f"root@{host.address}", command],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout


def kib(shown: str) -> tuple[float, float]:
    """``"23.5 GiB"`` -> (its size in KiB, half a step of the shown precision in KiB)."""
    match = re.fullmatch(r"([\d.]+) (KiB|MiB|GiB|TiB|PiB)", shown.strip())
    assert match, f"not a size: {shown!r}"
    number, unit = match.groups()
    decimals = len(number.partition(".")[2])
    # "23 GiB" may be 23.0 rounded to one decimal with ".0" dropped: tolerance of 0.05.
    step = 10.0 ** -max(decimals, 1) if float(number) < 100 and unit != "KiB" else 1.0
    return float(number) * UNITS[unit], step / 2 * UNITS[unit]


def test_the_server_page_shows_memory_and_disk_as_free_and_df_report_them(
    seeded: Seeded,
) -> None:
    host = seeded.host
    total_mib = int(ssh_root(host, "free -m").splitlines()[1].split()[1])
    df_line = ssh_root(host, shlex.join(["df", "-Pk", "/var/spool/postfix"])).splitlines()[1]
    size_kib, _used, avail_kib, use_pct = df_line.split()[1:5]

    page = seeded.context.new_page()
    page.goto(seeded.server_url)
    page.get_by_role("button", name="Refresh facts").click()
    page.wait_for_selector("section.job[data-finished='true']", timeout=60_000)
    page.goto(seeded.server_url)
    memory = page.locator("[data-memory]").inner_text()
    disk = page.locator("[data-disk]").inner_text()
    page.close()

    shown, tolerance = kib(memory)
    # free -m drops the remainder of MemTotal / 1024: allow one more MiB.
    assert abs(shown - total_mib * 1024) <= tolerance + 1024, (memory, total_mib)
    match = re.fullmatch(r"(.+) free of (.+), (\d+)% used", disk)
    assert match, disk
    for text, reported in ((match[1], avail_kib), (match[2], size_kib)):
        value, tolerance = kib(text)
        # The spool may grow a little between the facts run and df: 1 MiB of slack.
        assert abs(value - int(reported)) <= tolerance + 1024, (disk, df_line)
    assert abs(int(match[3]) - int(use_pct.rstrip("%"))) <= 1, (disk, df_line)


def test_screenshots_of_the_main_pages_on_a_desktop_and_a_phone(
    lab_panel: Panel, seeded: Seeded, artifacts: Path
) -> None:
    pages = {
        "overview": lab_panel.url + "/overview/",
        "server": seeded.server_url,
        "dns-plan": seeded.plan_url,
        "guided-setup": seeded.setup_url,
    }
    page = seeded.context.new_page()
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        for name, url in pages.items():
            page.goto(url)
            path = artifacts / f"every-page-{name}-{size_name}.png"
            page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 0
    page.close()
