//! The harness's own commands on pages it makes up (`data:` URLs, no daemon): elements,
//! scripts, waiting, the console, screenshots, the artifacts a failing test leaves, and a
//! browser that leaves no process behind.

use std::path::Path;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::json;

use crate::common::browser::{failure_path, Browser, WINDOW};

const FORM: &str = concat!(
    "data:text/html,<!doctype html><title>form</title>",
    "<input id=name name=who placeholder=you>",
    "<button id=go onclick=\"const who = document.getElementById('name').value;",
    " document.getElementById('out').textContent = 'hello ' + who;",
    " console.log('greeted', who)\">Go</button>",
    "<p id=out></p><ul><li>a</li><li>b</li><li>c</li></ul>"
);

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A PNG's width and height (its IHDR chunk, right after the signature).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(PNG_SIGNATURE), "not a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elements_scripts_and_the_console() {
    let b = Browser::start().await;
    b.goto(FORM).await;
    let name = b.find("#name").await;
    assert_eq!(name.attr("placeholder").await.as_deref(), Some("you"));
    assert_eq!(name.attr("title").await, None);
    name.send_keys("Ada").await;
    assert_eq!(name.property("value").await, "Ada");
    assert_eq!(
        name.attr("value").await,
        None,
        "typing sets the property only"
    );
    b.find("#go").await.click().await;
    let said = b
        .wait_for(
            "document.getElementById('out').textContent",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(said, "hello Ada");
    assert_eq!(b.find("#out").await.text().await, "hello Ada");
    assert_eq!(b.find_all("li").await.len(), 3);
    assert!(b.find_all("table").await.is_empty());

    let tag = b
        .execute(
            "return arguments[0].tagName + arguments[1]",
            &[b.find("ul").await.arg(), json!(1)],
        )
        .await;
    assert_eq!(tag, "UL1");
    let later = b
        .execute_async(
            "const done = arguments[0]; setTimeout(() => done(6 * 7), 50)",
            &[],
        )
        .await;
    assert_eq!(later, 42);
    assert!(b.try_execute("throw new Error('nope')", &[]).await.is_err());

    b.execute("console.error('something broke', 7)", &[]).await;
    let log = b.console_log().await;
    assert!(
        log.iter()
            .any(|e| e.level == "INFO" && e.message.contains("greeted")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|e| e.level == "SEVERE" && e.message.contains("something broke")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_times_out_with_the_last_value() {
    let b = Browser::start().await;
    b.goto("data:text/html,<title>0</title>").await;
    let waited = std::panic::AssertUnwindSafe(
        b.wait_for("Number(document.title)", Duration::from_millis(300)),
    )
    .catch_unwind()
    .await;
    let panic = waited.expect_err("document.title stays 0");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("Number(document.title)"), "{message}");
    assert!(message.contains("last value 0"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_and_the_console_are_saved_for_a_failure() {
    let b = Browser::start().await;
    b.goto("data:text/html,<h1>a page</h1><script>console.warn('about to fail')</script>")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (png, log) = b.save_artifacts(&dir.path().join("failed.png")).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), WINDOW);
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("WARNING") && log.contains("about to fail"),
        "{log}"
    );

    b.screenshot(&dir.path().join("nested/again.png")).await;
    assert!(std::fs::read(dir.path().join("nested/again.png"))
        .unwrap()
        .starts_with(PNG_SIGNATURE));

    let at = failure_path("browser::harness::some_test");
    let name = at.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("browser.harness.some_test-") && name.ends_with(".png"),
        "{name}"
    );
    assert_eq!(
        at.parent().unwrap().file_name().unwrap(),
        "browser-failures"
    );
}

/// A test that panics holding a browser leaves its artifacts: a thread named like a test,
/// panicking, stands in for a failing test.
#[test]
fn a_panicking_test_leaves_its_artifacts() {
    let test = format!("browser-guard-probe-{:08x}", rand::random::<u32>());
    let failed = std::thread::Builder::new()
        .name(test.clone())
        .spawn(|| {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let b = Browser::start().await;
                b.goto("data:text/html,<h1>failing</h1><script>console.log('last words')</script>")
                    .await;
                panic!("the probe fails on purpose");
            })
        })
        .unwrap()
        .join();
    assert!(failed.is_err());
    let dir = failure_path(&test).parent().unwrap().to_path_buf();
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&test))
        .collect();
    let png = left.iter().find(|p| p.extension().unwrap() == "png");
    let log = left.iter().find(|p| p.extension().unwrap() == "log");
    let (png, log) = (png.expect("a screenshot"), log.expect("a console log"));
    assert!(std::fs::read(png).unwrap().starts_with(PNG_SIGNATURE));
    assert!(std::fs::read_to_string(log).unwrap().contains("last words"));
    for p in &left {
        std::fs::remove_file(p).unwrap();
    }
}

fn running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"));
    stat.is_ok_and(|s| !matches!(s.rsplit_once(") ").map(|(_, r)| &r[..1]), Some("Z" | "X")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_browser_leaves_no_process() {
    let b = Browser::start().await;
    b.goto("data:text/html,<p>hi</p>").await;
    let pids = b.processes();
    assert!(
        pids.len() >= 3,
        "chromedriver, the browser and its helpers: {pids:?}"
    );
    drop(b);
    let left: Vec<u32> = pids.into_iter().filter(|&p| running(p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");
}
