//! The `pacer-mock` binary: start-up line, serving, Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn binary_prints_its_limits_serves_and_stops_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacer-mock"))
        .args([
            "--preset",
            "hubspot",
            "--port",
            "0",
            "--window",
            "3/1s",
            "--retry-after",
            "decimal",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pacer-mock");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("start-up line");
    assert!(line.contains("http://127.0.0.1:"), "{line}");
    assert!(
        line.contains("hubspot") && line.contains("3/1s sliding"),
        "{line}"
    );
    assert!(line.contains("retry-after=decimal"), "{line}");

    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("address");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let statuses: Vec<u16> = rt.block_on(async {
        let c = crate::support::client();
        let mut out = Vec::new();
        for _ in 0..4 {
            let req =
                crate::support::request(http::Method::GET, &format!("http://{addr}/"), None, "");
            out.push(
                crate::support::send(&c, req)
                    .await
                    .expect("request")
                    .status
                    .as_u16(),
            );
        }
        out
    });
    assert_eq!(statuses, [200, 200, 200, 429]);

    // Ctrl-C is SIGINT: the server shuts down and exits 0.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            assert!(exit.success(), "{exit:?}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("pacer-mock did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn binary_refuses_bad_flags_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_pacer-mock"))
        .args(["--time-scale=0", "--port", "0"])
        .output()
        .expect("run pacer-mock");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("time_scale"),
        "{out:?}"
    );
}
