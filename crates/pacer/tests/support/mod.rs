//! Shared fixtures of the `pacer` command's tests: a self-signed HTTPS
//! `pacer-mock`, input files, and running the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm, TlsFiles};

/// The time scale of the mock and the policy: HubSpot's 100 calls per
/// 10 s become 100 per 0.5 s.
pub const SCALE: f64 = 0.05;
/// The token the tests' mock requires.
pub const TOKEN: &str = "pacer-test-token";

/// A temporary directory with a self-signed certificate for 127.0.0.1.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let issued =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .expect("certificate");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, issued.cert.pem()).expect("write cert");
        std::fs::write(&key, issued.signing_key.serialize_pem()).expect("write key");
        Site { dir, cert, key }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The HubSpot preset over HTTPS, time-scaled, honouring idempotency
    /// keys, counting ids, requiring [`TOKEN`]; `tune` adjusts it.
    pub async fn mock(&self, tune: impl FnOnce(&mut MockConfig)) -> MockServer {
        let mut config = MockConfig::preset(Preset::Hubspot)
            .with_time_scale(SCALE)
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0);
        config.tls = Some(TlsFiles::new(&self.cert, &self.key));
        config.idempotency = true;
        config.track_ids = true;
        config.require_key = Some(TOKEN.to_owned());
        tune(&mut config);
        MockServer::start(config).await.expect("mock starts")
    }
}

/// Writes `n` JSONL records `{"id":"r{i}","email":…}`.
pub fn records(path: &Path, n: u64) {
    let mut text = String::with_capacity(n as usize * 48);
    for i in 0..n {
        text.push_str(&format!(
            "{{\"id\":\"r{i}\",\"properties\":{{\"email\":\"c{i}@example.com\"}}}}\n"
        ));
    }
    std::fs::write(path, text).expect("write records");
}

/// `pacer ARGS` with `PACER_TOKEN=token`.
pub fn pacer(args: &[&str], token: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pacer"));
    command
        .args(args)
        .env("PACER_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The sync arguments every test uses, against `server`.
pub fn sync_args(site: &Site, server: &MockServer, input: &Path, state: &Path) -> Vec<String> {
    vec![
        "sync".into(),
        "--input".into(),
        input.display().to_string(),
        "--url".into(),
        format!("{}/batch", server.url()),
        "--preset".into(),
        "hubspot".into(),
        "--time-scale".into(),
        SCALE.to_string(),
        "--state".into(),
        state.display().to_string(),
        "--ca-cert".into(),
        site.cert.display().to_string(),
        "--json".into(),
    ]
}

/// Runs to the end (in a blocking thread, so the in-process mock serves).
pub async fn finish(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("pacer runs"))
        .await
        .expect("join")
}

/// Starts without waiting.
pub fn start(mut command: Command) -> Child {
    command.spawn().expect("pacer starts")
}

/// The last JSON line of stdout.
pub fn report(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON report; stdout: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(line).expect("report JSON")
}

/// Polls `done` every 10 ms for at most `limit`.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
