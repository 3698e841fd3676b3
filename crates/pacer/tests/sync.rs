//! `pacer sync` end to end: the binary against `pacer-mock` over HTTPS on
//! loopback (a self-signed certificate made here), counting at the mock.

mod support;

use std::time::{Duration, Instant};

use support::{SCALE, Site, TOKEN, finish, pacer, records, report, start, sync_args, wait_until};

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_half_then_resume_loses_nothing_and_sends_nothing_twice() {
    const N: u64 = 100_000;
    let site = Site::new();
    // 40 ms per accepted call: the kill finds batches in flight, sent but
    // not answered.
    let server = site
        .mock(|c| c.latency = "40".parse().expect("latency"))
        .await;
    let input = site.path("records.jsonl");
    records(&input, N);
    let state = site.path("state");
    let argv = sync_args(&site, &server, &input, &state);

    let started = Instant::now();
    let mut child = start(pacer(&args(&argv), TOKEN));
    let halfway = wait_until(Duration::from_secs(120), || {
        server.stats().ids.distinct >= N / 2
    })
    .await;
    assert!(halfway, "the first run never reached half way");
    child.kill().expect("kill -9"); // SIGKILL on Unix: no chance to clean up
    let killed = child.wait().expect("reaped");
    assert!(!killed.success());
    let at_kill = server.stats().ids.distinct;

    let resumed = finish(pacer(&args(&argv), TOKEN)).await;
    let wall = started.elapsed();
    assert!(
        resumed.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let report = report(&resumed);
    let stats = server.stats();
    println!(
        "kill -9 at {at_kill} of {N} processed; resumed: {report}; mock: {} distinct ids, {} processed twice, \
         {} batches answered from the idempotency table, {} 429s; {:.1}s in all",
        stats.ids.distinct,
        stats.ids.repeated,
        stats.idempotent_replays,
        stats.rejected,
        wall.as_secs_f64()
    );
    assert_eq!(stats.ids.distinct, N, "every record reached the API");
    assert_eq!(stats.ids.repeated, 0, "no record was processed twice");
    assert_eq!(
        report["finished_earlier"].as_u64().unwrap() + report["acknowledged"].as_u64().unwrap(),
        N,
        "the checkpoint accounts for every record"
    );
    assert_eq!(report["dead_lettered"], 0);
    assert_eq!(report["left"], 0);
    // Only batches in flight at the kill can be sent again (8 at most).
    assert!(
        stats.idempotent_replays <= 8,
        "{}",
        stats.idempotent_replays
    );

    // A third run has nothing to do and sends nothing.
    let before = server.stats().accepted;
    let again = finish(pacer(&args(&argv), TOKEN)).await;
    assert!(again.status.success());
    assert_eq!(report_of(&again)["acknowledged"], 0);
    assert_eq!(server.stats().accepted, before);
}

fn report_of(output: &std::process::Output) -> serde_json::Value {
    report(output)
}

/// Runs `pacer ARGV` to the end, asserts it succeeded; its JSON report.
async fn sync_to_end(argv: &[String]) -> serde_json::Value {
    let out = finish(pacer(&args(argv), TOKEN)).await;
    assert!(
        out.status.success(),
        "pacer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    report(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_gracefully_and_says_how_to_resume() {
    const N: u64 = 20_000;
    let site = Site::new();
    let server = site.mock(|_| {}).await;
    let input = site.path("records.jsonl");
    records(&input, N);
    let state = site.path("state");
    let argv = sync_args(&site, &server, &input, &state);

    let child = start(pacer(&args(&argv), TOKEN));
    let pid = child.id().to_string();
    assert!(
        wait_until(Duration::from_secs(60), || server.stats().ids.distinct
            >= N / 4)
        .await
    );
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(sent.is_ok_and(|s| s.success()));
    let stopped = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Run the same command to resume"),
        "{stderr}"
    );
    let first = report(&stopped);
    assert!(first["left"].as_u64().unwrap() > 0, "{first}");
    // What was in flight finished: every processed record was acknowledged.
    assert_eq!(
        first["acknowledged"].as_u64(),
        Some(server.stats().ids.distinct)
    );

    let resumed = finish(pacer(&args(&argv), TOKEN)).await;
    assert!(resumed.status.success());
    let stats = server.stats();
    assert_eq!((stats.ids.distinct, stats.ids.repeated), (N, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_run_without_dead_letters() {
    let site = Site::new();
    let server = site.mock(|_| {}).await;
    let input = site.path("records.jsonl");
    records(&input, 5_000);
    let state = site.path("state");
    let argv = sync_args(&site, &server, &input, &state);

    let out = finish(pacer(&args(&argv), "a-wrong-token")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("PACER_TOKEN"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("a-wrong-token"),
        "the token is never printed"
    );
    assert_eq!(report(&out)["dead_lettered"], 0);
    let stats = server.stats();
    assert_eq!(stats.ids.received, 0);
    assert!(
        stats.unauthorized <= 8,
        "stopped at once: {}",
        stats.unauthorized
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_input_line_is_named_and_nothing_is_sent() {
    let site = Site::new();
    let server = site.mock(|_| {}).await;
    let input = site.path("records.jsonl");
    std::fs::write(&input, "{\"id\":1}\n{\"id\":2}\n{\"id\":3,,}\n").unwrap();
    let argv = sync_args(&site, &server, &input, &site.path("state"));
    let out = finish(pacer(&args(&argv), TOKEN)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("records.jsonl line 3"), "{stderr}");
    assert_eq!(server.stats().accepted, 0);

    let unknown = [
        "sync",
        "--input",
        "x.jsonl",
        "--url",
        "https://x/",
        "--preset",
        "nope",
    ];
    let out = finish(pacer(&unknown, TOKEN)).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown preset \"nope\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_input_and_dead_letters_replayed_at_the_policys_pace() {
    const N: u64 = 2_000;
    let site = Site::new();
    // One item in five fails on its own, at random (seeded).
    let server = site
        .mock(|c| {
            c.batch_item_failure = 0.2;
            c.seed = 7;
        })
        .await;
    let input = site.path("records.csv");
    let mut csv = String::from("id,email\n");
    for i in 0..N {
        csv.push_str(&format!("r{i},c{i}@example.com\n"));
    }
    std::fs::write(&input, csv).unwrap();
    let state = site.path("state");
    let argv = sync_args(&site, &server, &input, &state);
    let first = sync_to_end(&argv).await;
    let dead = first["dead_lettered"].as_u64().unwrap();
    assert!(dead > N / 10, "about a fifth failed: {first}");
    assert_eq!(first["acknowledged"].as_u64().unwrap() + dead, N);

    // A rerun of the finished run adds no dead letters.
    let again = finish(pacer(&args(&argv), TOKEN)).await;
    assert!(again.status.success());
    let store = format!("sqlite:{}", state.join("dead-letters.sqlite3").display());
    let count = |out: &std::process::Output| -> u64 {
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().filter(|l| l.starts_with('{')).count() as u64
    };
    let export = finish(pacer(&["dlq", "--store", &store, "export"], TOKEN)).await;
    assert_eq!(
        count(&export),
        dead,
        "one letter per refused record, none duplicated"
    );

    // Replay until drained: each pass retries what failed again.
    let (accepted_before, rejected_before) = (server.stats().accepted, server.stats().rejected);
    let scale = SCALE.to_string();
    let cert = site.cert.display().to_string();
    let replay = [
        "dlq",
        "--store",
        &store,
        "replay",
        "--preset",
        "hubspot",
        "--time-scale",
        &scale,
        "--ca-cert",
        &cert,
    ];
    let started = Instant::now();
    let mut passes = 0;
    loop {
        passes += 1;
        let out = finish(pacer(&replay, TOKEN)).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        println!("replay pass {passes}: {}", text.trim());
        if text.contains("; 0 letters left") {
            break;
        }
        assert!(passes < 12, "replay does not drain: {text}");
    }
    let wall = started.elapsed();
    let stats = server.stats();
    assert_eq!(stats.ids.distinct, N, "every record got through in the end");
    // A replay starts right after the sync, on the same key: the server's
    // window still holds the sync's calls, which the new process cannot
    // know, so its first burst may meet a few 429s (retried, and learned
    // from); never more than 2 % of its calls.
    let replay_calls = stats.accepted + stats.rejected - accepted_before - rejected_before;
    let refused = stats.rejected - rejected_before;
    println!("replays: {replay_calls} calls, {refused} 429s, {passes} passes, {wall:?}");
    assert!(
        refused * 50 <= replay_calls,
        "{refused} 429s in {replay_calls} calls"
    );
    // At the policy's pace: the dead letters are single-record calls, 100
    // per window of 0.5 s, so replaying them takes about dead/100 windows.
    let windows = (dead as f64 * 1.25 / 100.0).floor();
    assert!(
        wall.as_secs_f64() >= (windows - 1.0).max(0.0) * 10.0 * SCALE,
        "replayed {dead} letters in {wall:?}: faster than the quota allows"
    );
    assert!(stats.windows[0].max_seen <= 100);
}

/// The record ids of the letters in a dead-letter file (one per letter,
/// repeats kept), after checking the file is whole.
fn letters_in(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("the dead-letter file opens");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs");
    assert_eq!(check, "ok", "{}", path.display());
    let mut statement = conn.prepare("SELECT body FROM dead_letters").unwrap();
    statement
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|body| {
            let body: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
            body["inputs"][0]["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The batches the checkpoint marks finished, after checking the file.
fn marked_batches(state: &std::path::Path) -> std::collections::HashSet<u64> {
    let conn = rusqlite::Connection::open(state.join("checkpoint.sqlite3")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut statement = conn.prepare("SELECT batch FROM batches").unwrap();
    statement
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|b| b.unwrap().unsigned_abs())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_dead_letters_are_written_then_resume_keeps_each_record_once() {
    const N: u64 = 50_000;
    const BATCH: u64 = 100; // `pacer sync`'s default
    let site = Site::new();
    // Half the records are refused, one by one: every batch writes about
    // 50 dead letters. 40 ms per call: the kill finds batches in flight.
    let server = site
        .mock(|c| {
            c.batch_item_failure = 0.5;
            c.seed = 16;
            c.latency = "40".parse().expect("latency");
        })
        .await;
    let input = site.path("records.jsonl");
    records(&input, N);
    let state = site.path("state");
    let dlq = state.join("dead-letters.sqlite3");
    let argv = sync_args(&site, &server, &input, &state);
    let ids: Vec<String> = (0..N).map(|i| format!("r{i}")).collect();

    let mut child = start(pacer(&args(&argv), TOKEN));
    let halfway = wait_until(Duration::from_secs(120), || {
        server.stats().ids.distinct >= N / 2
    })
    .await;
    assert!(halfway, "the first run never reached half way");
    child.kill().expect("kill -9");
    assert!(!child.wait().expect("reaped").success());

    // At the kill: both files whole; every record of a marked batch
    // acknowledged at the mock or a dead letter, never both; the others
    // still to send (their batch is sent again).
    let letters = letters_in(&dlq);
    let marked = marked_batches(&state);
    let acknowledged = server.acknowledged_ids();
    let dead: std::collections::HashSet<&String> = letters.iter().collect();
    assert_eq!(dead.len(), letters.len(), "a record dead-lettered twice");
    assert!(!letters.is_empty(), "killed before any letter was written");
    assert!(
        (marked.len() as u64) < N / BATCH,
        "killed after the end of the run"
    );
    let mut unmarked_with_letters = std::collections::BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (acked, dead) = (acknowledged.contains(id), dead.contains(id));
        assert!(!(acked && dead), "{id} both acknowledged and a dead letter");
        let batch = i as u64 / BATCH;
        if marked.contains(&batch) {
            assert!(acked || dead, "{id}: batch {batch} marked, record lost");
        } else if dead {
            // Stored, then killed before the mark: the window the store's
            // key closes.
            unmarked_with_letters.insert(batch);
        }
    }
    println!(
        "kill -9: {} of {} batches marked, {} letters, {} acknowledged at the mock; \
         {} batches had their letters stored but were not marked",
        marked.len(),
        N / BATCH,
        letters.len(),
        acknowledged.len(),
        unmarked_with_letters.len()
    );

    let report = sync_to_end(&argv).await;
    println!("resumed: {report}");
    let letters = letters_in(&dlq);
    let acknowledged = server.acknowledged_ids();
    let dead: std::collections::HashSet<&String> = letters.iter().collect();
    assert_eq!(dead.len(), letters.len(), "a record dead-lettered twice");
    for id in &ids {
        assert!(
            acknowledged.contains(id) != dead.contains(id),
            "{id}: acknowledged {}, dead letter {}",
            acknowledged.contains(id),
            dead.contains(id)
        );
    }
    assert_eq!(report["left"], 0);
    let counted = ["finished_earlier", "acknowledged", "dead_lettered"]
        .iter()
        .map(|k| report[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(counted, N, "the checkpoint accounts for every record");
    let stats = server.stats();
    assert_eq!((stats.ids.distinct, stats.ids.repeated), (N, 0));
    assert_eq!(marked_batches(&state).len() as u64, N / BATCH);
}

/// The figure behind one transaction per batch: a run whose every record is
/// refused, so each batch writes 100 dead letters. Run with
/// `cargo test -p pacer --test sync refused_records_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints records per second"]
async fn refused_records_throughput() {
    const N: u64 = 20_000;
    let site = Site::new();
    let server = site.mock(|c| c.batch_item_failure = 1.0).await;
    let input = site.path("records.jsonl");
    records(&input, N);
    let state = site.path("state");
    let argv = sync_args(&site, &server, &input, &state);
    let report = sync_to_end(&argv).await;
    assert_eq!(report["dead_lettered"], N);
    println!(
        "pacer sync, {N} records all refused: {:.1} s, {:.0} records (dead letters) per second",
        report["wall_s"].as_f64().unwrap(),
        report["records_per_s"].as_f64().unwrap()
    );
}
