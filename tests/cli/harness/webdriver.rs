//! Just enough of the W3C WebDriver protocol to drive headless Chromium through chromedriver,
//! over reqwest: no browser-automation crate.
//!
//! Without chromium and chromedriver the browser tests skip with a note, unless
//! `STANCH_REQUIRE_CHROMIUM=1` (CI) makes that a failure.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session. Dropping it ends the session and stops chromedriver (and with it
/// the browser it started).
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    names.iter().find_map(|name| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts chromedriver on a port of its own choosing (`--port=0`; it names the port in
/// `ChromeDriver was started successfully on port N.`). A chromedriver too old to name it is
/// given a free-looking port instead, and another one if that turns out to be taken: its
/// success line means the port is its own.
fn spawn_driver(driver: &std::path::Path) -> (Child, u16) {
    if let Some(started) = try_driver(driver, 0) {
        return started;
    }
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        if let Some(started) = try_driver(driver, port) {
            return started;
        }
    }
    panic!("chromedriver did not start on any port");
}

/// One start of chromedriver on `port`: the child and the port it is serving, or `None` (the
/// child stopped) if it did not say it started on a known port within 20 s.
fn try_driver(driver: &std::path::Path, port: u16) -> Option<(Child, u16)> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group, so the browser it starts can be stopped with it.
        .process_group(0)
        .spawn()
        .expect("spawn chromedriver");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    // Reads on after the start line too, so chromedriver never writes to a closed pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let serving = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(left) else {
            break None;
        };
        let Some((_, rest)) = line.split_once("started successfully") else {
            continue;
        };
        let named = rest
            .trim()
            .strip_prefix("on port ")
            .and_then(|n| n.trim_end_matches('.').parse::<u16>().ok());
        break match named {
            Some(0) | None if port == 0 => None,
            Some(named) => Some(named),
            None => Some(port),
        };
    };
    match serving {
        Some(port) => Some((child, port)),
        None => {
            // SAFETY: signalling the process group of the chromedriver we started.
            unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
            None
        }
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `None` (after printing why) when
    /// they are not installed and not required.
    pub fn launch() -> Option<Browser> {
        let driver = find_program(&["chromedriver"]);
        let chromium = find_program(&["chromium", "chromium-browser"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            let why = "chromium and chromedriver are needed for the browser tests (Debian: apt-get install chromium chromium-driver)";
            if std::env::var("STANCH_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
                panic!("STANCH_REQUIRE_CHROMIUM=1: {why}");
            }
            eprintln!("skipping: {why}");
            return None;
        };
        Some(Browser::start(&driver, &chromium))
    }

    fn start(driver: &std::path::Path, chromium: &std::path::Path) -> Browser {
        let (driver, port) = spawn_driver(driver);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            runtime,
            http,
            session: String::new(),
            driver,
            _profile: profile,
        };
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser.runtime.block_on(async {
                let response = browser.http.get(format!("{base}/status")).send().await;
                match response {
                    Ok(r) => r.json::<Value>().await.ok(),
                    Err(_) => None,
                }
            });
            if ready.is_some_and(|s| s["value"]["ready"] == true) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-extensions", "--no-first-run",
                         format!("--user-data-dir={}", browser._profile.path().display())],
            },
        }}});
        let created = browser.call("POST", &format!("{base}/session"), Some(capabilities));
        browser.session = format!(
            "{base}/session/{}",
            created["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no session: {created}"))
        );
        browser
    }

    /// One WebDriver command; panics with the driver's error.
    fn call(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.runtime.block_on(async {
            let request = match method {
                "GET" => self.http.get(url),
                "DELETE" => self.http.delete(url),
                _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
            };
            let response = request.send().await.expect("chromedriver unreachable");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
        assert!(status.is_success(), "{method} {url}: {status} {answer}");
        answer["value"].clone()
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn refresh(&self) {
        self.command("POST", "/refresh", None);
    }

    pub fn title(&self) -> String {
        self.command("GET", "/title", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The visible text of the page.
    pub fn text(&self) -> String {
        let body = self.element("body");
        self.command("GET", &format!("/element/{body}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The elements matching a CSS selector.
    pub fn all(&self, css: &str) -> Vec<String> {
        let found = self.command(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e[ELEMENT].as_str().unwrap().to_string())
            .collect()
    }

    fn element(&self, css: &str) -> String {
        self.all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no `{css}` on the page:\n{}", self.source()))
    }

    pub fn source(&self) -> String {
        self.command("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks, then waits (up to 10 s) for the page to change: WebDriver answers a click that
    /// submits a form before the next page has loaded, so reading it at once can see the old one.
    pub fn click(&self, css: &str) {
        let before = self.title();
        let element = self.element(css);
        self.command("POST", &format!("/element/{element}/click"), None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.title() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The handle of the current tab.
    pub fn window(&self) -> String {
        let handle = self.command("GET", "/window", None);
        handle.as_str().unwrap().to_string()
    }

    /// Opens a new tab and switches to it.
    pub fn new_tab(&self) -> String {
        let tab = self.command("POST", "/window/new", Some(json!({"type": "tab"})));
        let handle = tab["handle"].as_str().unwrap().to_string();
        self.switch_to(&handle);
        handle
    }

    pub fn switch_to(&self, handle: &str) {
        self.command("POST", "/window", Some(json!({ "handle": handle })));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; then chromedriver's group goes, whatever is left.
        if !self.session.is_empty() {
            let request = self
                .http
                .delete(&self.session)
                .timeout(Duration::from_secs(10));
            // Built inside the runtime: reqwest's timer needs its reactor.
            let _ = self.runtime.block_on(async { request.send().await });
        }
        let group = self.driver.id() as i32;
        // SAFETY: signalling the process group of the chromedriver we started (not yet reaped).
        unsafe { libc::killpg(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.driver.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; it ignored SIGTERM.
        unsafe { libc::killpg(group, libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}
