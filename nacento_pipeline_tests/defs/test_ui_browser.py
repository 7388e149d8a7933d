"""The Dagster UI as a person sees it: `nacento-pipeline dev` (what `make dev` runs) on loopback, a dropped
batch and a rejected drop, then headless Chromium on the asset graph, the partition's materialization, the
reindex decision, the rejected drop and the sensor's ticks. Screenshots go to docs/ (shown in README)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from nacento_pipeline.cli import dagster_home, prepare_embedded
from nacento_pipeline.config import Settings
from nacento_pipeline.defs.constants import BATCH_JOB
from nacento_pipeline.resources.build import object_store_resource
from nacento_pipeline.storage.drop.samples import drop_sample_batch
from nacento_pipeline_tests.conftest import unreachable

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def chromium() -> str:
    """Debian's headless Chromium with its chromedriver (installed by `make test`)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        unreachable("Chromium", f"{', '.join(missing)} not installed (Debian chromium, chromium-driver)")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nacento-pipeline dev exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def dev_server(tmp_path):
    """A dropped batch and a rejected drop, then `nacento-pipeline dev` on a free loopback port."""
    var = tmp_path / "var"
    settings = Settings.from_env({"NACENTO_VAR_DIR": str(var)})
    prepare_embedded(settings)
    with dg.DagsterInstance.from_config(str(dagster_home(settings))):
        pass  # storage created once here, not raced by the webserver, the daemon and this test
    store = object_store_resource(settings).get_store()
    batch = drop_sample_batch(store, settings.drop_prefix)
    # a drop whose OK file lists a bunch file that never arrived: the sensor rejects it with a REPORT.md
    store.put(f"{settings.drop_prefix}import-media_listed_01.csv", b"sku,file_path\nNAC-1001,/n/a/x.png\n")
    store.put(
        f"{settings.drop_prefix}import-media_listed.ok",
        b"import-media_listed_01.csv\nimport-media_listed_02.csv\n",
    )
    port = _free_port()
    log_path = tmp_path / "dev.log"
    log = log_path.open("w")
    env = {**os.environ, "NACENTO_VAR_DIR": str(var)}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "nacento-pipeline"), "dev", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/server_info", proc, 60)
        yield f"http://127.0.0.1:{port}", var / "dagster_home", batch.batch_key, proc, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()


def _wait_for_run(home: Path, timeout: float) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while time.monotonic() < deadline:
            runs = instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB), limit=1)
            if runs and runs[0].is_finished:
                return runs[0]
            time.sleep(1)
    raise AssertionError(f"no finished {BATCH_JOB} run within {timeout} s")


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1500,1000",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _page(driver, url: str, *expected: str, timeout: float = 30) -> str:
    """Open `url` and wait until the page's visible text holds every `expected` string; returns the text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    text = ""

    def shows_all(d):
        nonlocal text
        text = d.find_element(By.TAG_NAME, "body").text
        if "Join the Dagster community" in text:  # first-visit newsletter prompt: a person clicks Skip
            for button in d.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
                button.click()
            return False
        return all(e in text for e in expected) and "Loading" not in text

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.5).until(shows_all)
    except Exception as exc:  # noqa: BLE001 - name what was missing
        missing = [e for e in expected if e not in text]
        raise AssertionError(f"{url} does not show {missing}; it shows: {text[:1500]}") from exc
    time.sleep(0.5)  # let late-loading panels settle before the screenshot
    # the first-visit prompt may open after the page's text has loaded: close it before the screenshot
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()
        time.sleep(0.5)
    return text


def test_the_ui_shows_the_batch_its_counts_the_reindex_decision_and_the_rejected_drop(chromium, dev_server):
    base, home, key, proc, log_path = dev_server
    t0 = time.monotonic()
    run = _wait_for_run(home, 90)
    print(f"run finished {time.monotonic() - t0:.1f} s after the webserver answered")
    assert run.status == dg.DagsterRunStatus.SUCCESS, log_path.read_text()[-3000:]
    DOCS.mkdir(exist_ok=True)
    driver = _browser()
    try:
        _page(
            driver,
            f"{base}/locations/nacento_pipeline/asset-groups/pim_batch_sync",
            "pim_batch",
            "image_etags",
            "gallery_delta",
            "magento_gallery",
            "reindex_decision",
            "storefront_cache",
            "pim_dr",
            "_rejections",
        )  # the graph shortens long names
        driver.save_screenshot(str(DOCS / "ui-asset-graph.png"))

        text = _page(
            driver,
            f"{base}/assets/magento_gallery?view=events&partition={key}",
            key,
            "inserted\n36",
            "roles_assigned\n48",
            "stale\n0",
            "changed_images",
            "first_stale_skus",
        )
        lines = text.split("\n")
        assert "stats" not in lines and lines.count("inserted") == 1  # every count once
        assert not any(line.endswith(".pickle") or "/storage/" in line for line in lines)  # no pickle path
        driver.save_screenshot(str(DOCS / "ui-magento-gallery-partition.png"))

        _page(
            driver,
            f"{base}/assets/reindex_decision?view=events&partition={key}",
            "decisions",
            "nacento/reindex=",
        )
        driver.save_screenshot(str(DOCS / "ui-reindex-decision.png"))

        _page(
            driver,
            f"{base}/assets/pim_drop_rejections?view=events",
            "media_listed",
            "import-media_listed_02.csv",
        )
        driver.save_screenshot(str(DOCS / "ui-drop-rejections.png"))

        _page(
            driver,
            f"{base}/locations/nacento_pipeline/sensors/pim_drop_sensor",
            "pim_drop_sensor",
            "1 run requested",
        )
        driver.save_screenshot(str(DOCS / "ui-drop-sensor-ticks.png"))
    finally:
        driver.quit()
    print(f"pages checked {time.monotonic() - t0:.1f} s after the webserver answered")
    # `make dev` stops on SIGTERM within seconds and said nothing about superseded commands or an unused yaml
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)
    assert time.monotonic() - started < 10
    output = log_path.read_text()
    assert "SupersessionWarning" not in output and "will not be used" not in output
