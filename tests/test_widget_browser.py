"""The website widget in a real browser (Debian's Chromium under Playwright) against the real bot.

One bot for the module, with ``CORS_ORIGINS`` naming a stand-in clinic site
on another loopback port; a second site that is not configured must not get
in. Every browser context records every request it makes: all must stay on
this machine. Screenshots go to ``test-artifacts/widget-*.png``.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.support.browser import PageWatch, launch
from tests.support.servers import RunningBot, free_port, start_bot
from tests.support.website import StaticSite, clinic_csp, clinic_page

pytestmark = pytest.mark.server

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ESCALATION_START = "Stop using the cream and contact your provider"
GREETING_START = "Hi! I'm an automated assistant"
INJECTION = "<img src=x onerror=alert(1)>"
REPLY_MS = 45_000
DESKTOP = {"width": 1100, "height": 800}


@dataclass
class Sites:
    """The bot, a clinic site it is configured for, and a site it is not."""

    bot: RunningBot
    clinic: StaticSite
    foreign: StaticSite

    @property
    def demo(self) -> str:
        """The demo page the bot serves itself."""
        return f"{self.bot.url}/webhooks/widget/"


Visit = Callable[..., Tuple[Page, PageWatch]]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    rasa_port = free_port()
    bot_url = f"http://127.0.0.1:{rasa_port}"
    page, csp = clinic_page(bot_url), {"Content-Security-Policy": clinic_csp(bot_url)}
    clinic = StaticSite(free_port(), page, csp)
    foreign = StaticSite(free_port(), page, csp)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        bot = start_bot(
            tmp_path_factory.mktemp("widget-bot"),
            ARTIFACTS / "widget-bot.log",
            rasa_port=rasa_port,
            extra_env={"CORS_ORIGINS": clinic.url},
        )
    except Exception:
        clinic.stop()
        foreign.stop()
        raise
    yield Sites(bot, clinic, foreign)
    bot.stop()
    clinic.stop()
    foreign.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    """Open a URL in a fresh browser context (fresh storage); checks what it did afterwards."""
    opened: List[Tuple[Any, PageWatch]] = []

    def _visit(url: str, **context_options: Any) -> Tuple[Page, PageWatch]:
        context = browser.new_context(**{"viewport": DESKTOP, **context_options})
        watch = PageWatch()
        watch.attach(context)
        page = context.new_page()
        page.set_default_timeout(REPLY_MS)
        page.goto(url)
        opened.append((context, watch))
        return page, watch

    yield _visit
    for context, watch in opened:
        context.close()
        assert watch.outside() == [], "requests left the machine"
        assert watch.dialogs == [], "a dialog was opened"


# --- helpers -------------------------------------------------------------------


def launcher(page: Page) -> Locator:
    return page.get_by_role("button", name="Questions about imiquimod cream?")


def question_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Your question")


def open_widget(page: Page) -> None:
    launcher(page).click()
    expect(question_box(page)).to_be_focused()


def ask(page: Page, text: str) -> None:
    question_box(page).fill(text)
    question_box(page).press("Enter")


def greeting(page: Page) -> Locator:
    return page.locator(".imq-msg--bot", has_text=GREETING_START)


def quick_replies(page: Page) -> Locator:
    return page.get_by_role("group", name="Suggested questions").get_by_role("button")


def cited(page: Page, section: str) -> Locator:
    return page.locator(".imq-msg--bot .imq-source", has_text=f'Source: patient leaflet, section "{section}"')


def user_texts(page: Page) -> Locator:
    return page.locator(".imq-msg--user .imq-text")


def session_id(page: Page) -> str:
    return str(page.evaluate("localStorage.getItem('imiquimod-faq-widget:session')"))


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"widget-{name}.png"))


def contrast(fg: List[float], bg: List[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""

    def luminance(rgb: List[float]) -> float:
        channels = [c / 255 for c in rgb[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


STYLE_JS = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderLeftWidth]"
COLOURS_JS = """(selectors) => selectors.map((selector) => {
  const element = document.querySelector(selector);
  if (!element) return [selector, null, null];
  const parse = (c) => c.match(/[\\d.]+/g).map(Number);
  let node = element, background = [255, 255, 255];
  while (node && node.nodeType === 1) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0) { background = c; break; }
    node = node.parentElement;
  }
  return [selector, parse(getComputedStyle(element).color), background];
})"""


# --- the demo page, served by the bot itself -------------------------------------


def test_the_greeting_offers_topic_quick_replies_and_the_disclaimer(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    open_widget(page)
    expect(greeting(page)).to_be_visible()
    expect(quick_replies(page)).to_have_count(5)
    expect(quick_replies(page).first).to_have_text("How do I apply it?")
    expect(page.locator(".imq-disclaimer")).to_be_visible()
    expect(page.locator(".imq-disclaimer")).to_contain_text("not a substitute for your prescriber's advice")
    expect(
        page.locator(".imq-msg--bot", has_text="This is general information from the patient leaflet")
    ).to_be_visible()
    expect(user_texts(page)).to_have_count(0)  # the /greet payload is not shown
    shot(page, "greeting")


def test_a_leaflet_question_gets_an_answer_that_cites_its_section(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    open_widget(page)
    expect(greeting(page)).to_be_visible()
    ask(page, "how should I store the cream?")
    source = cited(page, "Storage and disposal")
    expect(source).to_be_visible(timeout=REPLY_MS)
    answer = page.locator(".imq-msg--bot").filter(has=page.locator(".imq-source", has_text="Storage and disposal"))
    expect(answer.locator(".imq-text")).to_have_text(
        "Store imiquimod at room temperature away from heat and light. Keep it out of reach of children."
    )
    page.wait_for_timeout(300)
    shot(page, "answer")


def test_a_quick_reply_asks_its_question(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    open_widget(page)
    quick_replies(page).filter(has_text="Storage and disposal").click()
    expect(user_texts(page).last).to_have_text("How should I store the cream?")
    expect(cited(page, "Storage and disposal")).to_be_visible()
    expect(quick_replies(page)).to_have_count(0)
    expect(question_box(page)).to_be_focused()


def test_an_escalation_is_an_alert_and_looks_different(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    open_widget(page)
    expect(greeting(page)).to_be_visible()
    ask(page, "I have a high fever")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_count(1)
    expect(alert.locator(".imq-text")).to_have_text(re.compile("^" + re.escape(ESCALATION_START)))
    expect(alert).to_contain_text("Important")
    escalation_style = alert.evaluate(STYLE_JS)
    normal_style = greeting(page).evaluate(STYLE_JS)
    assert escalation_style[0] != normal_style[0]
    assert float(escalation_style[1].rstrip("px")) >= 6 > float(normal_style[1].rstrip("px"))
    shot(page, "escalation")
    page.wait_for_timeout(500)
    page.reload()  # replayed: the same look, but not announced again
    expect(page.locator(".imq-msg--escalation")).to_contain_text(ESCALATION_START)
    expect(page.locator(".imq-msg--escalation")).to_contain_text("Important")
    expect(page.get_by_role("alert")).to_have_count(0)


def test_reloading_the_page_keeps_the_conversation(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    open_widget(page)
    expect(greeting(page)).to_be_visible()
    ask(page, "how should I store the cream?")
    expect(cited(page, "Storage and disposal")).to_be_visible()
    before = session_id(page)
    page.wait_for_timeout(500)  # Rasa saves the turn just after it replies
    page.reload()
    expect(question_box(page)).to_be_visible()  # still open
    expect(user_texts(page)).to_have_text(["how should I store the cream?"])
    expect(cited(page, "Storage and disposal")).to_be_visible()
    page.wait_for_timeout(1500)
    expect(greeting(page)).to_have_count(1)  # replayed, not sent again
    assert session_id(page) == before
    shot(page, "history")
    ask(page, "and how do I get rid of old tubes?")  # the same conversation goes on after the reload
    expect(cited(page, "Storage and disposal")).to_have_count(2)


def test_html_in_a_message_is_shown_as_text_and_never_runs(sites: Sites, visit: Visit) -> None:
    page, watch = visit(sites.demo)
    open_widget(page)
    expect(greeting(page)).to_be_visible()
    bot_messages = page.locator(".imq-msg--bot")
    replies_before = bot_messages.count()
    ask(page, INJECTION)
    expect(user_texts(page).last).to_have_text(INJECTION)
    expect(bot_messages).not_to_have_count(replies_before)  # the bot answered it
    page.wait_for_timeout(1000)
    page.reload()
    expect(user_texts(page)).to_have_text([INJECTION])
    page.wait_for_timeout(500)
    assert page.locator(".imq-widget img").count() == 0
    assert watch.dialogs == []
    assert not [url for url in watch.requests if url.split("?")[0].endswith("/x")]


def test_nothing_is_loaded_from_elsewhere_and_the_page_allows_only_its_origin(sites: Sites, visit: Visit) -> None:
    page, watch = visit(sites.demo)
    csp = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "unsafe" not in csp
    open_widget(page)
    ask(page, "how should I store the cream?")
    expect(cited(page, "Storage and disposal")).to_be_visible()
    page.reload()
    expect(cited(page, "Storage and disposal")).to_be_visible()
    assert any("/socket.io/" in url for url in watch.requests)
    assert any(url.endswith("/webhooks/widget/vendor/socket.io.min.js") for url in watch.requests)
    assert any("/webhooks/widget/history/" in url for url in watch.requests)
    assert watch.outside() == []
    assert watch.errors == [], "console errors (CSP violations, missing files...)"
    fonts = page.evaluate("[...document.fonts].map(f => f.family)")
    assert fonts == []
    assert page.evaluate("typeof window.io") == "undefined", "the widget leaked its socket.io global into the page"


def test_the_widget_works_with_the_keyboard_alone(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    page.keyboard.press("Tab")
    expect(launcher(page)).to_be_focused()
    page.keyboard.press("Enter")
    expect(question_box(page)).to_be_focused()
    expect(quick_replies(page)).to_have_count(5)
    for _ in range(8):  # back from the input to the quick replies
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent") == "Storage and disposal":
            break
    expect(quick_replies(page).filter(has_text="Storage and disposal")).to_be_focused()
    page.keyboard.press("Enter")
    expect(cited(page, "Storage and disposal")).to_be_visible()
    expect(question_box(page)).to_be_focused()
    page.keyboard.type("can I use sunscreen?")
    page.keyboard.press("Enter")
    expect(user_texts(page).last).to_have_text("can I use sunscreen?")
    page.keyboard.press("Escape")
    expect(question_box(page)).to_be_hidden()
    expect(launcher(page)).to_be_focused()
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")


def test_controls_are_labelled_and_the_conversation_is_a_live_log(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")
    open_widget(page)
    expect(launcher(page)).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("region", name="Imiquimod cream questions")).to_be_visible()
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_have_attribute("aria-live", "polite")
    for name in ("Send", "Close chat", "Start over"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    expect(quick_replies(page)).to_have_count(5)
    expect(page.get_by_role("status")).to_be_attached()
    page.get_by_role("button", name="Close chat").click()
    expect(launcher(page)).to_be_focused()


def test_text_has_readable_contrast(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo, viewport={"width": 1100, "height": 900})
    open_widget(page)
    expect(quick_replies(page)).to_have_count(5)
    ask(page, "I have a fevr, and how should I store the cream?")
    expect(cited(page, "Storage and disposal")).to_be_visible()
    selectors = [
        ".imq-launcher",
        ".imq-title",
        ".imq-disclaimer",
        ".imq-msg--bot:not(.imq-msg--escalation) .imq-text",
        ".imq-msg--user .imq-text",
        ".imq-source",
        ".imq-msg--escalation .imq-text",
        ".imq-badge",
        ".imq-send",
        ".imq-status",
        ".imq-input",
    ]
    for selector, fg, bg in page.evaluate(COLOURS_JS, selectors):
        assert fg is not None, f"{selector} not found"
        assert contrast(fg, bg) >= 4.5, f"{selector}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"
    page.locator(".imq-msg--user").last.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    shot(page, "escalation-and-answer")


def test_start_over_begins_a_new_conversation(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.demo)
    open_widget(page)
    ask(page, "how should I store the cream?")
    expect(cited(page, "Storage and disposal")).to_be_visible()
    first = session_id(page)
    page.get_by_role("button", name="Start over").click()
    expect(user_texts(page)).to_have_count(0)
    expect(greeting(page)).to_be_visible()
    assert session_id(page) not in (first, "None")


def test_a_phone_sized_screen_shows_the_whole_widget(sites: Sites, visit: Visit) -> None:
    phone = {"width": 375, "height": 667}
    page, _ = visit(sites.demo, viewport=phone, device_scale_factor=2, is_mobile=True, has_touch=True)
    launcher(page).tap()
    expect(question_box(page)).to_be_focused()
    panel = page.get_by_role("region", name="Imiquimod cream questions")
    box = panel.bounding_box()
    assert box == {"x": 0, "y": 0, "width": phone["width"], "height": phone["height"]}
    expect(quick_replies(page)).to_have_count(5)
    ask(page, "how should I store the cream?")
    expect(cited(page, "Storage and disposal")).to_be_in_viewport()
    expect(question_box(page)).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= phone["width"]
    page.wait_for_timeout(300)
    shot(page, "mobile")
    page.get_by_role("button", name="Close chat").tap()
    expect(launcher(page)).to_be_visible()


# --- a clinic's own site on another origin ------------------------------------------


def _polling_handshake(bot_url: str, origin: str) -> Tuple[int, List[str]]:
    request = urllib.request.Request(f"{bot_url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get_all("Access-Control-Allow-Origin") or []
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_all("Access-Control-Allow-Origin") or []


def test_a_configured_clinic_site_can_embed_the_widget(sites: Sites, visit: Visit) -> None:
    page, watch = visit(sites.clinic.url)
    open_widget(page)
    expect(greeting(page)).to_be_visible()
    ask(page, "how should I store the cream?")
    expect(cited(page, "Storage and disposal")).to_be_visible()
    page.wait_for_timeout(500)
    page.reload()
    expect(user_texts(page)).to_have_text(["how should I store the cream?"])
    expect(cited(page, "Storage and disposal")).to_be_visible()
    cross_origin = [
        r for r in watch.responses if r.url.startswith(sites.bot.url) and r.request.resource_type in ("xhr", "fetch")
    ]
    assert any("/history/" in r.url for r in cross_origin) and any("/socket.io/" in r.url for r in cross_origin)
    for response in cross_origin:
        assert response.header_values("access-control-allow-origin") == [sites.clinic.url], response.url
    assert watch.errors == []
    shot(page, "clinic-site")


def test_a_site_that_is_not_configured_cannot_use_the_bot(sites: Sites, visit: Visit) -> None:
    page, _ = visit(sites.foreign.url)
    open_widget(page)
    expect(page.get_by_role("status")).to_have_text("Cannot reach the assistant. Retrying\u2026")
    page.wait_for_timeout(1000)
    expect(page.locator(".imq-msg--bot")).to_have_count(0)


@pytest.mark.parametrize("who", ["clinic", "foreign", "evil"])
def test_only_configured_origins_get_cors_headers_and_never_star(sites: Sites, who: str) -> None:
    origin = {"clinic": sites.clinic.url, "foreign": sites.foreign.url, "evil": "https://evil.example"}[who]
    status, allow_origin = _polling_handshake(sites.bot.url, origin)
    if who == "clinic":
        assert (status, allow_origin) == (200, [sites.clinic.url])
    else:
        assert status == 400 and allow_origin == []
