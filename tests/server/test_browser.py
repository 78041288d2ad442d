"""The web app in a real browser: uvicorn on 127.0.0.1, Debian's chromium driven by Selenium
(offline: SE_OFFLINE and the system's chromedriver, nothing is downloaded)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(library_dir: Path, lite0) -> Iterator[str]:

    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig

    port = free_port()
    with Library(library_dir) as library:
        app = create_app(ServerConfig(port=port), library=library, extractor=lite0)
        with serving(app, port) as url:
            yield url


@contextlib.contextmanager
def serving(app: object, port: int) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1:``port``, its lifespan running; its URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def browser(width: int, height: int, phone: bool = False) -> Iterator[object]:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager downloads nothing
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    if phone:
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": True}},
        )
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def shots_dir(tmp_path: Path) -> Path:
    """Screenshots go to $IMAGE_FINDER_SCREENSHOTS when set (to look at them), else tmp."""
    folder = Path(os.environ.get("IMAGE_FINDER_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for(driver, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def at_phone_width(url: str, token: str, page: str, item: str, count: int, shot: Path) -> None:
    """The page ``page`` (reached from its link in the header) at 390 px: its ``count``
    ``item`` elements shown, nothing wider than the screen; a screenshot to ``shot``."""
    from selenium.webdriver.common.by import By

    with browser(390, 844, phone=True) as driver:
        driver.get(f"{url}/?token={token}")
        wait_for(driver, lambda d: d.find_element(By.ID, f"nav-{page}").is_displayed())
        driver.get(f"{url}/{page}")
        wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, item)) == count)
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        driver.save_screenshot(str(shot))


def results(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#results .result")


def test_upload_a_photo_see_its_copy_first_open_it_and_go_back(
    live_server, token, photo_source, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = shots_dir(tmp_path)
    query = tmp_path / "my photo.jpg"
    shutil.copy(photo_source / "coffee.jpg", query)
    with browser(1280, 800) as driver:
        driver.get(f"{live_server}/?token={token}")
        assert "token" not in driver.current_url  # taken out of the address bar
        wait_for(driver, lambda d: "18 images" in d.find_element(By.ID, "library").text)
        driver.find_element(By.ID, "file").send_keys(str(query))
        wait_for(driver, lambda d: results(d))
        first = results(driver)[0]
        assert first.get_attribute("aria-label") == "coffee.jpg, score 1.00, Identical"
        image = first.find_element(By.TAG_NAME, "img")
        assert image.get_attribute("alt") == "coffee.jpg"
        wait_for(driver, lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)
        assert "upload=1" in driver.current_url
        driver.save_screenshot(str(shots / "desktop-results.png"))

        first.click()
        dialog = driver.find_element(By.ID, "detail")
        wait_for(driver, lambda d: dialog.is_displayed())
        assert driver.find_element(By.ID, "detail-name").text == "coffee.jpg"
        assert "600 × 400 px" in driver.find_element(By.ID, "detail-facts").text
        opened = driver.find_element(By.ID, "detail-open").get_attribute("href")
        assert opened.endswith(f"/api/v1/items/{_item_id(first)}/image")
        driver.save_screenshot(str(shots / "desktop-detail.png"))
        driver.find_element(By.ID, "detail-similar").send_keys(Keys.ENTER)  # by keyboard
        wait_for(driver, lambda d: "item=" in d.current_url)
        wait_for(driver, lambda d: results(d) and "This image" in results(d)[0].text)

        words = driver.find_element(By.ID, "words")
        words.send_keys("cat", Keys.ENTER)
        wait_for(driver, lambda d: "q=cat" in d.current_url)
        wait_for(driver, lambda d: results(d) and "chelsea.jpg" in results(d)[0].text)
        driver.back()
        wait_for(driver, lambda d: "item=" in d.current_url)
        driver.back()
        wait_for(driver, lambda d: "upload=1" in d.current_url)
        wait_for(driver, lambda d: results(d) and "coffee.jpg" in results(d)[0].text)
        assert driver.get_log("browser") == []  # no script errors, no failed loads


def _item_id(tile) -> str:
    src = tile.find_element("tag name", "img").get_attribute("src")
    return src.split("/items/")[1].split("/")[0]


def test_at_phone_width_the_grid_fits_and_folders_index_live(
    live_server, token, photo_source, photos, tmp_path
):
    from selenium.webdriver.common.by import By

    shots = shots_dir(tmp_path)
    new = tmp_path / "Holidays"
    new.mkdir()
    for name in ("rocket.jpg", "horse.jpg", "moon.jpg"):
        shutil.copy(photos / name, new / name)
    with browser(390, 844, phone=True) as driver:
        driver.get(f"{live_server}/?token={token}")
        wait_for(driver, lambda d: "18 images" in d.find_element(By.ID, "library").text)
        assert driver.find_element(By.ID, "camera").get_attribute("capture") == "environment"
        driver.find_element(By.ID, "file").send_keys(str(photo_source / "horse.jpg"))
        wait_for(driver, lambda d: len(results(d)) > 2)
        assert "horse.jpg" in results(driver)[0].text
        width = driver.execute_script("return document.documentElement.clientWidth")
        assert width == 390
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width
        tiles = results(driver)
        assert tiles[0].location["y"] == tiles[1].location["y"] != tiles[2].location["y"]
        driver.save_screenshot(str(shots / "phone-results.png"))

        path = driver.find_element(By.ID, "folder-path")
        driver.execute_script("arguments[0].scrollIntoView()", path)
        path.send_keys(str(new))
        driver.find_element(By.CSS_SELECTOR, "#folder-form button").click()
        wait_for(driver, lambda d: "Indexing done" in d.find_element(By.ID, "message").text)
        wait_for(driver, lambda d: "Holidays" in d.find_element(By.ID, "folders").text)
        wait_for(driver, lambda d: "21 images" in d.find_element(By.ID, "library").text)
        driver.save_screenshot(str(shots / "phone-folders.png"))
        assert driver.get_log("browser") == []


def test_select_several_leave_one_out_and_filter(live_server, token, photo_source, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots = shots_dir(tmp_path)
    with browser(1280, 800) as driver:
        driver.get(f"{live_server}/?token={token}")
        wait_for(driver, lambda d: "18 images" in d.find_element(By.ID, "library").text)
        driver.find_element(By.ID, "file").send_keys(str(photo_source / "chelsea.jpg"))
        wait_for(driver, lambda d: results(d) and "chelsea.jpg" in results(d)[0].text)

        def names(d):
            return [t.find_element(By.CLASS_NAME, "name").text for t in results(d)]

        second = names(driver)[1]
        tiles = driver.find_elements(By.CSS_SELECTOR, "#results li")
        driver.execute_script("arguments[0].scrollIntoView()", tiles[1])
        driver.find_elements(By.CSS_SELECTOR, "#results .unlike")[1].click()  # Not like this
        wait_for(driver, lambda d: "unlike=" in d.current_url)
        wait_for(driver, lambda d: results(d) and second not in names(d))
        assert "not " + second in driver.find_element(By.ID, "parts").text

        picks = driver.find_elements(By.CSS_SELECTOR, "#results .pick")
        for pick in picks[:3]:
            pick.click()
        button = driver.find_element(By.ID, "search-these")
        assert button.is_displayed() and button.text == "Search with these 3"
        chosen = names(driver)[:3]
        button.click()
        wait_for(driver, lambda d: "like=" in d.current_url and "unlike" not in d.current_url)
        wait_for(driver, lambda d: results(d) and set(names(d)[:3]) == set(chosen))
        driver.save_screenshot(str(shots / "desktop-several.png"))

        driver.find_element(By.CSS_SELECTOR, "#filters summary").click()
        Select(driver.find_element(By.ID, "f-orientation")).select_by_value("square")
        wait_for(driver, lambda d: "orient=square" in d.current_url)
        wait_for(driver, lambda d: "orientation: square" in d.find_element(By.ID, "parts").text)
        wait_for(driver, lambda d: results(d))
        for tile in results(driver):
            item = driver.execute_async_script(
                "fetch(arguments[0]).then((r) => r.json()).then(arguments[1])",
                f"/api/v1/items/{_item_id(tile)}",
            )
            assert item["height"] == item["width"], item["filename"]
        driver.back()
        wait_for(driver, lambda d: "orient=" not in d.current_url)
        wait_for(driver, lambda d: set(names(d)[:3]) == set(chosen))
        assert driver.get_log("browser") == []


@pytest.fixture
def catalogue_server(library_dir: Path, lite0, tmp_path: Path) -> Iterator[str]:
    """The web app over a Milvus Lite catalogue of the library's pictures (62-bit ids)."""

    from image_finder.core.indexing.to_catalogue import copy_library
    from image_finder.core.stores.catalogue import Catalogue
    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig

    store = f"milvus-lite:{tmp_path / 'catalogue.db'}"
    with Library(library_dir) as library, Catalogue(store) as catalogue:
        copy_library(library, catalogue)
    port = free_port()
    app = create_app(ServerConfig(port=port, store=store), extractor=lite0)
    with serving(app, port) as url:
        yield url


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_over_a_catalogue_the_web_app_keeps_its_long_ids_exact(
    catalogue_server, token, photo_source, tmp_path
):
    from selenium.webdriver.common.by import By

    shots = shots_dir(tmp_path)
    with browser(1280, 800) as driver:
        driver.get(f"{catalogue_server}/?token={token}")
        wait_for(driver, lambda d: "18 images" in d.find_element(By.ID, "library").text)
        driver.find_element(By.ID, "file").send_keys(str(photo_source / "coffee.jpg"))
        wait_for(driver, lambda d: results(d))
        first = results(driver)[0]
        assert first.get_attribute("aria-label") == "coffee.jpg, score 1.00, Identical"
        long_id = _item_id(first)
        assert len(long_id) >= 16  # past what a JavaScript number holds exactly
        driver.save_screenshot(str(shots / "catalogue-desktop-results.png"))
        first.click()
        wait_for(driver, lambda d: d.find_element(By.ID, "detail").is_displayed())
        driver.find_element(By.ID, "detail-similar").click()
        wait_for(driver, lambda d: f"item={long_id}" in d.current_url)
        wait_for(driver, lambda d: results(d) and "This image" in results(d)[0].text)
        assert "coffee.jpg" in results(driver)[0].text
        assert driver.get_log("browser") == []
    with browser(390, 844, phone=True) as driver:
        driver.get(f"{catalogue_server}/?token={token}")
        wait_for(driver, lambda d: "18 images" in d.find_element(By.ID, "library").text)
        driver.find_element(By.ID, "file").send_keys(str(photo_source / "horse.jpg"))
        wait_for(driver, lambda d: len(results(d)) > 2)
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        driver.save_screenshot(str(shots / "catalogue-phone-results.png"))


def test_a_photo_after_words_replaces_them_and_the_page_tells_the_truth(
    live_server, token, photo_source, tmp_path
):
    """A photo chosen after a words search is searched alone, under its own title; the job
    bar stays hidden while nothing runs; signed out, only the sign-in shows, and a refused
    token in the address says so."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with browser(1280, 800) as driver:
        driver.get(f"{live_server}/?token={token}")
        wait_for(driver, lambda d: "18 images" in d.find_element(By.ID, "library").text)
        assert not driver.find_element(By.ID, "job").is_displayed()  # no job, no bar
        driver.find_element(By.ID, "words").send_keys("cat", Keys.ENTER)
        wait_for(driver, lambda d: results(d) and "chelsea.jpg" in results(d)[0].text)
        driver.find_element(By.ID, "file").send_keys(str(photo_source / "coffee.jpg"))
        wait_for(driver, lambda d: "upload=" in d.current_url)
        wait_for(driver, lambda d: results(d) and "coffee.jpg" in results(d)[0].text)
        title = driver.find_element(By.ID, "results-title").text
        assert "coffee.jpg" in title and "cat" not in title
        assert driver.find_element(By.ID, "words").get_attribute("value") == ""
        assert "error" not in driver.find_element(By.ID, "message").get_attribute("class")
        # a words search after the photo: the photo's preview goes
        driver.find_element(By.ID, "words").send_keys("cat", Keys.ENTER)
        wait_for(driver, lambda d: "q=cat" in d.current_url)
        assert not driver.find_element(By.ID, "query-preview").is_displayed()
        pick = driver.find_elements(By.CSS_SELECTOR, "#results .pick")[0]
        opacity = driver.execute_script("return getComputedStyle(arguments[0]).opacity", pick)
        assert float(opacity) >= 0.85  # selection boxes are seen without hovering
        assert driver.get_log("browser") == []
    with browser(1280, 800) as driver:
        driver.get(f"{live_server}/?token=not-a-token")
        wait_for(driver, lambda d: d.find_element(By.ID, "signin").is_displayed())
        assert "was refused" in driver.find_element(By.ID, "signin-refused").text
        assert not driver.find_element(By.ID, "filters").is_displayed()
        assert not driver.find_element(By.ID, "query").is_displayed()


def test_find_similar_at_phone_width_keeps_the_page_narrow(live_server, token, photo_source,
                                                          tmp_path):  # fmt: skip
    from selenium.webdriver.common.by import By

    shots = shots_dir(tmp_path)
    with browser(390, 844, phone=True) as driver:
        driver.get(f"{live_server}/?token={token}")
        wait_for(driver, lambda d: "18 images" in d.find_element(By.ID, "library").text)
        driver.find_element(By.ID, "file").send_keys(str(photo_source / "horse.jpg"))
        wait_for(driver, lambda d: len(results(d)) > 2)
        results(driver)[0].click()
        wait_for(driver, lambda d: d.find_element(By.ID, "detail").is_displayed())
        driver.find_element(By.ID, "detail-similar").click()
        wait_for(driver, lambda d: "item=" in d.current_url)
        wait_for(driver, lambda d: results(d) and "This image" in results(d)[0].text)
        title = driver.find_element(By.ID, "results-title").text
        assert "horse.jpg" in title and "/" not in title  # the file's name, not its path
        assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
        driver.save_screenshot(str(shots / "phone-find-similar.png"))
        assert driver.get_log("browser") == []


@pytest.fixture
def duplicates_server(photo_source: Path, lite0, tmp_path: Path, xdg_trash) -> Iterator[tuple]:
    """A library with copies: coffee.jpg twice and once smaller, the clock twice."""
    from PIL import Image

    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig

    folder = tmp_path / "Camera"
    folder.mkdir()
    for name in ("coffee.jpg", "clock.jpg", "rocket.jpg", "horse.jpg", "moon.jpg"):
        shutil.copy(photo_source / name, folder / name)
    shutil.copy(photo_source / "coffee.jpg", folder / "coffee copy.jpg")
    Image.open(photo_source / "coffee.jpg").resize((300, 200)).save(folder / "coffee small.png")
    shutil.copy(photo_source / "clock.jpg", folder / "clock (1).jpg")
    port = free_port()
    with Library(tmp_path / "dup-library") as library:
        index_folders([folder], library, lite0)
        app = create_app(ServerConfig(port=port), library=library, extractor=lite0)
        with serving(app, port) as url:
            yield url, folder


def test_the_duplicates_page_moves_copies_to_the_trash_and_undoes_it(duplicates_server, token,
                                                                     tmp_path):  # fmt: skip
    from selenium.webdriver.common.by import By

    url, folder = duplicates_server
    shots = shots_dir(tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    with browser(1280, 800) as driver:
        driver.get(f"{url}/?token={token}")
        wait_for(driver, lambda d: d.find_element(By.ID, "nav-duplicates").is_displayed())
        driver.find_element(By.ID, "nav-duplicates").click()
        wait_for(driver, lambda d: "groups" in d.find_element(By.ID, "dup-summary").text)
        driver.save_screenshot(str(shots / "desktop-duplicates.png"))
        groups = driver.find_elements(By.CSS_SELECTOR, "#dup-groups .dup-group")
        assert len(groups) == 2
        keepers = driver.find_elements(By.CSS_SELECTOR, ".dup-item.keep")
        assert len(keepers) == 2 and all("Keep" in k.text for k in keepers)
        checked = driver.find_elements(By.CSS_SELECTOR, ".dup-pick:checked")
        assert len(checked) == 3  # coffee copy, coffee small, clock (1): never a keeper
        assert not driver.find_element(By.ID, "query").is_displayed()
        driver.execute_script("window.confirm = () => true")
        driver.find_element(By.ID, "dup-trash").click()
        wait_for(driver, lambda d: "Moved 3 files" in d.find_element(By.ID, "message").text)
        assert len(list(folder.iterdir())) == len(before) - 3
        wait_for(driver, lambda d: "No duplicates" in d.find_element(By.ID, "dup-summary").text)
        driver.find_element(By.ID, "dup-undo").click()
        wait_for(driver, lambda d: "Put back 3 files" in d.find_element(By.ID, "message").text)
        assert sorted(p.name for p in folder.iterdir()) == before
        wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".dup-group")) == 2, 60)
        # the indexing job's end keeps what the undo said (it used to replace it at once)
        ended = driver.find_element(By.ID, "message").text
        assert "Put back 3 files" in ended and "Indexing done" in ended
        assert driver.get_log("browser") == []
    at_phone_width(url, token, "duplicates", ".dup-group", 2, shots / "phone-duplicates.png")


@pytest.fixture
def video_server(lite0, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A library of a slideshow video (astronaut, coffee, chelsea, rocket: 3 s each) and a
    photo."""
    pytest.importorskip("av")
    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig
    from tests.videos import photo, slideshow

    media = tmp_path / "Videos"
    media.mkdir()
    slideshow(media / "harbour.mp4")
    photo("coffee").save(media / "coffee.jpg")
    port = free_port()
    with Library(tmp_path / "video-library") as library:
        index_folders([media], library, lite0)
        app = create_app(ServerConfig(port=port), library=library, extractor=lite0)
        with serving(app, port) as url:
            yield url, media


def test_a_moment_found_by_a_photo_plays_from_its_time(video_server, token, tmp_path):
    from selenium.webdriver.common.by import By

    from tests.videos import photo

    url, _ = video_server
    shots = shots_dir(tmp_path)
    query = tmp_path / "my cat.png"
    photo("chelsea").save(query)
    for width, height, phone in ((1280, 800, False), (390, 844, True)):
        with browser(width, height, phone=phone) as driver:
            driver.get(f"{url}/?token={token}")
            wait_for(driver, lambda d: "1 photo · 1 video" in d.find_element(By.ID, "library").text)
            driver.find_element(By.ID, "file").send_keys(str(query))
            wait_for(driver, lambda d: results(d))
            first = results(driver)[0]
            label = first.get_attribute("aria-label")
            assert label.startswith("harbour.mp4 at 00:0"), label
            assert first.find_element(By.CLASS_NAME, "moment").text.startswith("▶ 00:0")
            driver.save_screenshot(str(shots / f"{'phone' if phone else 'desktop'}-moment.png"))
            first.click()
            video = driver.find_element(By.ID, "detail-video")
            wait_for(driver, lambda d, v=video: v.is_displayed())
            assert not driver.find_element(By.ID, "detail-image").is_displayed()
            # the browser fetched the video by ranges and stands at the moment (6 s: chelsea)
            wait_for(
                driver,
                lambda d, v=video: d.execute_script("return arguments[0].readyState", v) >= 1,
            )
            at = driver.execute_script("return arguments[0].currentTime", video)
            assert 5.0 <= at <= 9.5, at
            assert driver.execute_script("return arguments[0].duration", video) == pytest.approx(
                12.0, abs=0.2
            )
            assert "/video" in driver.find_element(By.ID, "detail-open").get_attribute("href")
            if phone:
                width_now = driver.execute_script("return document.documentElement.scrollWidth")
                assert width_now <= 390
            driver.save_screenshot(str(shots / f"{'phone' if phone else 'desktop'}-playing.png"))
            assert [e for e in driver.get_log("browser") if "play()" not in e["message"]] == []
            if not phone:  # the filters narrow to photos, or to videos of a length
                from selenium.webdriver.common.keys import Keys
                from selenium.webdriver.support.ui import Select

                driver.find_element(By.CSS_SELECTOR, ".detail-close button").click()
                driver.find_element(By.CSS_SELECTOR, "#filters summary").click()
                Select(driver.find_element(By.ID, "f-kind")).select_by_value("photo")
                wait_for(
                    driver, lambda d: [r.text.split("\n")[0] for r in results(d)] == ["coffee.jpg"]
                )
                Select(driver.find_element(By.ID, "f-kind")).select_by_value("video")
                length = driver.find_element(By.ID, "f-min-duration")
                length.send_keys("60", Keys.TAB)  # the video is 12 s long
                wait_for(
                    driver, lambda d: "No results" in d.find_element(By.ID, "results-title").text
                )
                assert "minlen=60" in driver.current_url and "kind=video" in driver.current_url


def test_a_clip_uploaded_finds_the_video_holding_it_and_plays_from_there(
    video_server, token, tmp_path
):
    from selenium.webdriver.common.by import By

    from tests.videos import cut, greyed

    url, media = video_server
    shots = shots_dir(tmp_path)
    clip = cut(media / "harbour.mp4", tmp_path / "from my phone.mp4", 3.0, 9.0, change=greyed)
    for width, height, phone in ((1280, 800, False), (390, 844, True)):
        with browser(width, height, phone=phone) as driver:
            driver.get(f"{url}/?token={token}")
            wait_for(driver, lambda d: "1 photo · 1 video" in d.find_element(By.ID, "library").text)
            driver.find_element(By.ID, "file").send_keys(str(clip))
            wait_for(driver, lambda d: results(d))
            first = results(driver)[0]
            label = first.get_attribute("aria-label")
            assert label.startswith("harbour.mp4 at 00:0") and "holds the clip" in label, label
            span = first.find_element(By.CLASS_NAME, "moment").text  # ▶ 00:03–00:09
            start, end = (int(t.split(":")[1]) for t in span.lstrip("▶ ").split("–"))
            assert 2 <= start <= 4 and 8 <= end <= 10, span
            assert driver.find_element(By.ID, "message").text.startswith("1 video holds the clip")
            assert not first.find_elements(By.XPATH, "..//button[@class='unlike']")
            driver.save_screenshot(str(shots / f"{'phone' if phone else 'desktop'}-clip.png"))
            first.click()
            video = driver.find_element(By.ID, "detail-video")
            wait_for(
                driver,
                lambda d, v=video: (
                    v.is_displayed() and d.execute_script("return arguments[0].readyState", v) >= 1
                ),
            )
            at = driver.execute_script("return arguments[0].currentTime", video)
            assert 2.0 <= at <= 4.5, at
            if phone:
                assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
            assert [e for e in driver.get_log("browser") if "play()" not in e["message"]] == []


def test_words_written_in_a_picture_find_it_with_its_snippet_and_text(lite0, token, tmp_path):
    """A receipt found by a word it says: its tile shows the snippet with the word marked,
    its detail the text read (selectable), at desktop and phone widths."""
    pytest.importorskip("rapidocr")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from image_finder.core.indexing.indexer import index_folders
    from image_finder.core.indexing.texts import fill_texts
    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig
    from tests.core.pictures.test_text_reading import LINES, receipt
    from tests.videos import photo

    media = tmp_path / "Receipts"
    media.mkdir()
    receipt().save(media / "receipt.png")
    photo("coffee").save(media / "coffee.jpg")
    shots = shots_dir(tmp_path)
    port = free_port()
    with Library(tmp_path / "text-library") as library:
        index_folders([media], library, lite0)
        fill_texts(library, lambda p: None, lambda: False)
        app = create_app(ServerConfig(port=port), library=library, extractor=lite0)
        with serving(app, port) as url:
            for width, height, phone in ((1280, 800, False), (390, 844, True)):
                with browser(width, height, phone=phone) as driver:
                    driver.get(f"{url}/?token={token}")
                    words = driver.find_element(By.ID, "words")
                    words.send_keys("adler", Keys.ENTER)
                    wait_for(driver, lambda d: results(d))
                    first = results(driver)[0]
                    assert first.text.split("\n")[0] == "receipt.png"
                    snippet = first.find_element(By.CLASS_NAME, "snippet")
                    marked = [m.text for m in snippet.find_elements(By.TAG_NAME, "mark")]
                    assert marked == ["Adler"] and "Hotel" in snippet.text
                    assert "says: Hotel Adler" in first.get_attribute("aria-label")
                    driver.save_screenshot(
                        str(shots / f"{'phone' if phone else 'desktop'}-text.png")
                    )
                    first.click()
                    body = driver.find_element(By.ID, "detail-text-body")
                    wait_for(driver, lambda d, b=body: b.is_displayed() and b.text)
                    assert body.text.splitlines() == list(LINES)
                    selectable = driver.execute_script(
                        "return getComputedStyle(arguments[0]).userSelect", body
                    )
                    assert selectable != "none"
                    if phone:
                        assert (
                            driver.execute_script("return document.documentElement.scrollWidth")
                            <= 390
                        )
                    assert driver.get_log("browser") == []


def test_a_reviewer_confirms_a_match_and_sees_new_ones_arrive(library_dir, lite0, photo_source,
                                                              tmp_path):  # fmt: skip
    """The Matches page with a ``match`` token: the recorded match, confirmed and attributed
    to the token; a match recorded meanwhile (as another process would) appears live."""
    pytest.importorskip("pdqhash")
    from selenium.webdriver.common.by import By

    from image_finder.core.app.banks import check_watched, import_list
    from image_finder.core.banks.store import BankStore
    from image_finder.core.banks.watch import check_rows
    from image_finder.core.pictures.images import load_image
    from image_finder.core.pictures.pdq import pdq_of
    from image_finder.core.stores.library import Library
    from image_finder.server.app import create_app
    from image_finder.server.config import ServerConfig
    from image_finder.server.tokens import Scope, TokenStore

    listing = tmp_path / "known.csv"
    coffee, rocket = (pdq_of(load_image(photo_source / n)) for n in ("coffee.jpg", "rocket.jpg"))
    listing.write_text(f"{coffee.hex},leaked coffee\n")
    info, secret = TokenStore().create(Scope.MATCH, "moderator")
    shots = shots_dir(tmp_path)
    port = free_port()
    with Library(library_dir) as library:
        with BankStore(library_dir) as banks:
            banks.create("leaks", watch=True)
            import_list(banks, "leaks", str(listing))
        assert len(check_watched(library)) == 1
        app = create_app(ServerConfig(port=port), library=library, extractor=lite0)
        with serving(app, port) as url, browser(1280, 800) as driver:
            driver.get(f"{url}/?token={secret}")
            wait_for(driver, lambda d: d.find_element(By.ID, "nav-matches").is_displayed())
            assert not driver.find_element(By.ID, "nav-duplicates").is_displayed()
            driver.find_element(By.ID, "nav-matches").click()
            wait_for(driver, lambda d: "1 to review" in d.find_element(By.ID, "match-summary").text)
            item = driver.find_element(By.CSS_SELECTOR, ".match-item")
            assert "coffee.jpg" in item.text and "leaks “leaked coffee”" in item.text
            assert "PDQ" in item.text and "(≤ 31)" in item.text
            item.find_element(By.XPATH, ".//button[text()='Confirm']").click()
            wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".match-item.confirmed"))
            assert f"Confirmed by {info.id}" in driver.find_element(By.CSS_SELECTOR,
                                                                    ".match-item").text  # fmt: skip
            listing.write_text(f"{rocket.hex},leaked rocket\n")
            with BankStore(library_dir) as banks:
                import_list(banks, "leaks", str(listing))
            check_rows(library, lite0.name, [(str(photo_source / "rocket.jpg"), None,
                                              rocket.to_blob(), None)])  # fmt: skip
            wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".match-item")) == 2)
            first = driver.find_elements(By.CSS_SELECTOR, ".match-item")[0]
            assert "rocket.jpg" in first.text and "To review" in first.text
            assert "New match: rocket.jpg" in driver.find_element(By.ID, "message").text
            driver.save_screenshot(str(shots / "desktop-matches.png"))
            assert driver.get_log("browser") == []
        port = free_port()
        with serving(create_app(ServerConfig(port=port), library=library, extractor=lite0),
                     port) as url:  # fmt: skip
            at_phone_width(url, secret, "matches", ".match-item", 2, shots / "phone-matches.png")
