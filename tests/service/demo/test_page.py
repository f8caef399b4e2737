"""The demo page in a real browser (Playwright driving Debian's headless chromium) against a real server: it
stores a set, corrupts an item, restores it, shows the engine's own answer, plays every step of the read, shows
errors (a missing or wrong key), lists the model's memories as the service does (those written through the API
too, page by page), reads from and deletes them. Keyboard and text alternatives are how it is driven and read."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ebmm_client import EBMMClient, EBMMError
from model.engine import Engine

from ..conftest import BINARY, CONV, KEYS, TENANT, Bits, memory_key

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI, in the test extras) is missing")
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
# Records every caption the read's step picture gets, to check the animation showed each step in order.
RECORD_CAPTIONS = """() => {
  window.captions = [];
  new MutationObserver(() => window.captions.push(document.getElementById("step-caption").textContent))
    .observe(document.getElementById("step-caption"), {childList: true, characterData: true, subtree: true});
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): make test installs it when root")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh tab (its own sessionStorage) that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1000, "height": 1600})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


def stored_theta(server, memory_id: str) -> torch.Tensor:
    raw = server.redis().hget(memory_key(memory_id, TENANT), "theta")
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())[None]


def shown(page, element_id: str) -> np.ndarray:
    """The numbers the page lists under "Numbers" (its text alternative for the pictures)."""
    return np.asarray(json.loads(page.locator(f"#{element_id}").text_content()), dtype=np.float32)


def stored_id(page) -> str:
    """The id of the memory the page just wrote, once the page has it selected (it is listed newest first)."""
    expect(page.locator("#stored")).to_contain_text("Stored memory")
    memory_id = re.search(r"Stored memory ([\w-]+):", page.text_content("#stored")).group(1)
    expect(page.locator("#memory")).to_have_value(memory_id)
    expect(page.locator("#memories li").first).to_contain_text(memory_id)
    return memory_id


def select_button(page, memory_id: str):
    return page.locator(f"#memories button[aria-label='Select memory {memory_id}']")


def test_the_page_stores_corrupts_and_restores_with_the_engines_answer(server, page, engine: Engine) -> None:
    with server.client() as client:  # written through the API before the page loads: the page must list it
        earlier = client.write(BINARY, Bits(seed=7).patterns(5), metadata={"source": "test"}).id
    page.goto(f"{server.url}/demo/")
    expect(page.locator("#error")).to_contain_text("401 unauthorized: missing API key")
    page.fill("#api-key", "not-a-key")
    page.click("#use-key")
    expect(page.locator("#error")).to_contain_text("401 unauthorized: invalid API key")
    page.fill("#api-key", KEYS[TENANT])
    page.press("#api-key", "Enter")
    expect(page.locator("#model option")).to_have_count(2)
    expect(page.locator("#error")).to_be_hidden()

    page.select_option("#model", BINARY)
    expect(select_button(page, earlier)).to_have_count(1)
    expect(page.locator("#memories li", has_text=earlier)).to_contain_text("written elsewhere")
    select_button(page, earlier).click()
    expect(page.locator("#memory")).to_have_value(earlier)
    expect(page.locator("#items-hint")).to_contain_text("keeps only its weights")
    expect(page.locator("#retrieve")).to_be_disabled()  # no patterns to corrupt until the set has some

    page.fill("#count", "6")
    page.click("#add")
    expect(page.locator("#set li")).to_have_count(6)
    page.click("#store")
    memory_id = stored_id(page)
    expect(page.locator("#stored")).to_contain_text("error_bits (erase 8 of 32 entries)")
    expect(select_button(page, earlier)).to_have_count(1)
    expect(page.locator("#items-hint")).to_have_text("Pick the stored item to corrupt:")
    with server.client() as client:
        assert client.get(memory_id).num_patterns == 6

    page.click("#items li:nth-child(2) button")
    page.select_option("#corruption", "erase")
    expect(page.locator("#strength")).to_have_value("8")
    expect(page.locator("#query")).to_have_attribute("aria-label", re.compile(r"32 bits .*: [-+?]{32}$"))
    page.evaluate(RECORD_CAPTIONS)
    page.click("#retrieve")
    last = engine.info.read_steps
    expect(page.locator("#step-caption")).to_contain_text(f"Step {last} of {last}:", timeout=30_000)

    query, answer = shown(page, "query-values"), shown(page, "answer-values")
    assert (query == 0).sum() == 8  # eight bits erased
    Q = torch.from_numpy(query)[None, None]
    expected = engine.read(stored_theta(server, memory_id), Q, Q != 0).patterns[0, 0].numpy()
    assert np.array_equal(answer, expected)
    bits = "".join("+" if x > 0 else "-" for x in answer)
    expect(page.locator("#answer")).to_have_attribute(
        "aria-label", f"Answer: 32 bits (+ for 1, - for -1, ? unknown): {bits}"
    )
    steps = [int(re.match(r"Step (\d+)", caption).group(1)) for caption in page.evaluate("() => window.captions")]
    assert steps == list(range(last + 1)), steps  # every step shown, in order
    expect(page.locator("#energy-table tbody tr")).to_have_count(last + 1)
    expect(page.locator("#verdict")).to_contain_text("wrong bits from the original")

    page.focus("#step-slider")  # the steps by keyboard
    page.keyboard.press("Home")
    expect(page.locator("#step-caption")).to_contain_text(f"Step 0 of {last}:")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#step-caption")).to_contain_text(f"Step 1 of {last}:")

    for deleted in (memory_id, earlier):  # what the page wrote and what was written through the API
        page.click(f"button[aria-label='Delete memory {deleted}']")
        expect(select_button(page, deleted)).to_have_count(0)
        with server.client() as client, pytest.raises(EBMMError, match="404"):
            client.get(deleted)


def test_without_auth_images_are_drawn_uploaded_and_occluded_by_keyboard(make_server, checkpoints, page) -> None:
    engine = Engine.from_checkpoint(checkpoints / CONV, "cpu")
    with make_server(api_keys=None, auth_disabled=True) as server:
        page.goto(f"{server.url}/demo/")
        expect(page.locator("#model option")).to_have_count(2)
        page.select_option("#model", CONV)
        expect(page.locator("#source")).to_have_value("digits")
        page.fill("#count", "3")
        page.click("#add")
        expect(page.locator("#set li")).to_have_count(3)

        box = page.locator("#draw").bounding_box()
        page.mouse.move(box["x"] + 20, box["y"] + 20)
        page.mouse.down()
        page.mouse.move(box["x"] + 140, box["y"] + 140, steps=8)
        page.mouse.up()
        page.click("#add-drawing")
        picture = io.BytesIO()
        Image.new("RGB", (40, 30), (255, 255, 255)).save(picture, format="PNG")
        page.set_input_files("#upload", {"name": "white.png", "mimeType": "image/png", "buffer": picture.getvalue()})
        expect(page.locator("#set li")).to_have_count(5)
        drawn = page.locator("#set li:nth-child(4) canvas").get_attribute("aria-label")
        assert re.match(r"Pattern 4: 8×8 image, 1 channel\(s\), mean value 0\.[0-9]*[1-9]", drawn), drawn
        assert "mean value 1.000" in page.locator("#set li:nth-child(5) canvas").get_attribute("aria-label")

        page.click("#store")
        memory_id = stored_id(page)
        expect(page.locator("#stored")).to_contain_text("mse (occlude a 4x4 block)")
        page.select_option("#corruption", "occlude")
        page.focus("#query")
        for key in ("ArrowRight", "ArrowRight", "ArrowDown"):
            page.keyboard.press(key)
        expect(page.locator("#query")).to_have_attribute("aria-label", re.compile("4×4 block at row 2, column 3"))
        page.click("#retrieve")
        expect(page.locator("#step-caption")).to_contain_text(f"Step {engine.info.read_steps} of", timeout=30_000)

        query, answer = shown(page, "query-values"), shown(page, "answer-values")
        known = np.ones((8, 8), dtype=bool)
        known[1:5, 2:6] = False
        assert np.all(query.reshape(8, 8)[~known] == 0.5)
        raw = server.redis().hget(f"{memory_key(memory_id, 'dev')}", "theta")
        theta = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())[None]
        Q = torch.from_numpy(query).view(1, 1, 1, 8, 8)
        expected = engine.read(theta, Q, torch.from_numpy(known).view(1, 1, 1, 8, 8)).patterns.flatten()
        np.testing.assert_allclose(answer, expected.numpy(), rtol=0, atol=1e-6)
        expect(page.locator("#verdict")).to_contain_text("MSE")


def test_the_list_pages_through_the_services_memories_and_reads_one_written_elsewhere(make_server, page) -> None:
    page_size = 20  # PAGE_SIZE of demo.js
    patterns = Bits(seed=3).patterns(page_size + 1)
    with make_server(api_keys=None, auth_disabled=True) as server:
        with EBMMClient(server.url) as client:
            written = [client.write(BINARY, patterns[i : i + 1]).id for i in range(page_size + 1)]
        page.goto(f"{server.url}/demo/")
        page.select_option("#model", BINARY)
        expect(page.locator("#memories li")).to_have_count(page_size)
        expect(page.locator("#memories-summary")).to_contain_text(f"{page_size} memories of {BINARY} listed")
        page.focus("#more-memories")
        page.keyboard.press("Enter")
        expect(page.locator("#memories li")).to_have_count(page_size + 1)
        expect(page.locator("#more-memories")).to_be_hidden()
        oldest = written[0]
        expect(select_button(page, oldest)).to_be_focused()  # the keyboard goes on from what "More" added
        listed = [re.match(r"[\w-]+", text).group(0) for text in page.locator("#memories li span").all_text_contents()]
        assert listed == written[::-1]  # newest first, each once

        page.keyboard.press("Enter")  # select the oldest: written through the API, its patterns not in this tab
        expect(page.locator("#memory")).to_have_value(oldest)
        page.fill("#count", "2")
        page.click("#add")  # the set's patterns are what the page can corrupt for it
        expect(page.locator("#items li")).to_have_count(2)
        page.select_option("#corruption", "erase")
        page.click("#retrieve")
        expect(page.locator("#verdict")).to_contain_text("from the pattern of the set")
        query, answer = shown(page, "query-values"), shown(page, "answer-values")
        with EBMMClient(server.url) as client:
            assert np.array_equal(answer, client.retrieve(oldest, query[None]).patterns[0])
