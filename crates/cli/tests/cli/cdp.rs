//! A small Chrome DevTools Protocol client over `--remote-debugging-pipe`: headless Chromium
//! reads commands on its fd 3 and writes answers and events on its fd 4, each a JSON message
//! ended by a NUL byte. No WebSocket, no driver binary, no dependency.
//!
//! It collects what a page must never produce: uncaught exceptions, `console.error` calls and
//! error log entries other than the network's own (a 4xx the page handles is logged by Chromium
//! as a failed resource load, which is not a page error).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Browser {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// JavaScript errors seen so far, in the order they came.
    pub errors: Vec<String>,
    shots: std::path::PathBuf,
    shot_count: u32,
    _profile: tempfile::TempDir,
}

/// The Chromium to drive: `CAISSE_CHROMIUM`, else the first of Debian's names on the PATH.
pub fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("CAISSE_CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new("sh")
                .args(["-c", &format!("command -v {name} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_string)
}

impl Browser {
    /// Starts headless Chromium and opens one page; screenshots go to `shots`.
    pub fn launch(chromium: &str, shots: std::path::PathBuf) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        // The shell gives Chromium our stdin as its fd 3 and our stdout as its fd 4.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" 3<&0 4>&1 </dev/null >/dev/null")
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let input = child.stdin.take().expect("chromium input");
        let output = child.stdout.take().expect("chromium output");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                buf.clear();
            }
        });
        let mut browser = Browser {
            child,
            input,
            messages,
            next_id: 0,
            session: String::new(),
            errors: Vec::new(),
            shots,
            shot_count: 0,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("a target").to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        for domain in ["Runtime.enable", "Page.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser
    }

    /// Sends one command (to the page once attached) and waits for its answer.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// Sends one command and waits for its answer or its error.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.input.write_all(&bytes).expect("write to chromium");
        self.input.flush().expect("flush to chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .messages
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if m["id"].as_u64() == Some(id) {
                return match m.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(m["result"].clone()),
                };
            }
            self.note(&m);
        }
    }

    /// Keeps the page errors an event reports.
    fn note(&mut self, m: &Value) {
        let p = &m["params"];
        match m["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                let text = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("exception");
                self.errors.push(format!("uncaught: {text}"));
            }
            Some("Runtime.consoleAPICalled")
                if matches!(p["type"].as_str(), Some("error") | Some("assert")) =>
            {
                self.errors.push(format!("console.error: {}", p["args"]));
            }
            Some("Log.entryAdded")
                if p["entry"]["level"] == "error" && p["entry"]["source"] != "network" =>
            {
                self.errors.push(format!(
                    "log: {}",
                    p["entry"]["text"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }

    /// Drains the events that came without a command, so that their errors are counted.
    pub fn settle(&mut self) {
        while let Ok(m) = self.messages.recv_timeout(Duration::from_millis(200)) {
            self.note(&m);
        }
    }

    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_until(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            "the page to load",
        );
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("`{expression}` threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy (20 s at most) and returns its value.
    pub fn wait_until(&mut self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // While a form submission navigates, the page being left cannot evaluate anything
            // ("Inspected target navigated or closed"): that is "not yet", like a falsy answer.
            let r = self
                .try_call(
                    "Runtime.evaluate",
                    json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
                )
                .unwrap_or_else(|e| json!({ "exceptionDetails": e }));
            let v = r["result"]["value"].clone();
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy && r.get("exceptionDetails").is_none() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "waited 20 s for {what}; the page shows: {}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page's visible text, for failure messages.
    pub fn text(&mut self) -> String {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": "document.body ? document.body.innerText : ''", "returnByValue": true }),
        );
        r["result"]["value"].as_str().unwrap_or("").to_string()
    }

    /// Clicks the element `selector` names (it must exist).
    pub fn click(&mut self, selector: &str) {
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) return false; e.click(); return true; }})()",
            s = json!(selector)
        ));
        assert_eq!(found, json!(true), "nothing to click at {selector}");
    }

    /// Types `value` into the field `selector` names, as input events.
    pub fn fill(&mut self, selector: &str, value: &str) {
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) return false; e.focus(); e.value = {v}; \
             e.dispatchEvent(new Event('input', {{ bubbles: true }})); e.dispatchEvent(new Event('change', {{ bubbles: true }})); return true; }})()",
            s = json!(selector),
            v = json!(value)
        ));
        assert_eq!(found, json!(true), "no field at {selector}");
    }

    /// A PNG of the viewport, kept as `NN-name.png` among the test's artefacts.
    pub fn screenshot(&mut self, name: &str) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or(""))
            .expect("a PNG");
        self.shot_count += 1;
        let path = self
            .shots
            .join(format!("{:02}-{name}.png", self.shot_count));
        std::fs::write(&path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
