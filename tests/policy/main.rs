//! `Policy`: files, validation, presets.
#![cfg(feature = "serde")]

use std::time::Duration;

use tower_pacer::Pacer;
use tower_pacer::policy::{BatchSpec, BudgetSpec, JitterSpec, Policy, QuotaSpec};
use tower_pacer::presets::{self, Ga4Property, HubSpotTier, ShopifyPlan, SlackTier, StripeMode};

const TOML: &str = r#"
name = "hubspot"
concurrency = 10
max_wait = "60s"
quotas = [
    { limit = 100, window = "10s" },
    { limit = 250000, window = "1d" },
    { rate = 2, per = "1s", burst = 40 },
]
headroom = { fraction = 0.98, margin = "20ms" }

[retry]
max_attempts = 5
base = "200ms"
cap = "30s"
jitter = "decorrelated"
deadline = "5m"
max_retry_after = "2m"
budget = { ttl = "10s", min_per_sec = 10, ratio = 0.2 }
seed = 7

[classify]
rate_limited_min_wait = "1m"

[batch]
max_items = 100
max_latency = "50ms"
"#;

fn hubspot_from_toml() -> Policy {
    toml::from_str(TOML).expect("valid TOML policy")
}

#[test]
fn a_toml_policy_reads_as_written() {
    let policy = hubspot_from_toml();
    policy.validate().unwrap();
    assert_eq!(policy.name, "hubspot");
    assert_eq!(policy.concurrency, Some(10));
    assert_eq!(policy.max_wait, Some(Duration::from_secs(60)));
    assert_eq!(
        policy.quotas,
        vec![
            QuotaSpec::window(100, Duration::from_secs(10)),
            QuotaSpec::window(250_000, Duration::from_secs(86_400)),
            QuotaSpec::rate(2, Duration::from_secs(1), 40),
        ]
    );
    assert_eq!(policy.headroom.fraction, 0.98);
    assert_eq!(policy.headroom.margin, Duration::from_millis(20));
    assert_eq!(policy.retry.max_attempts, 5);
    assert_eq!(policy.retry.jitter, JitterSpec::Decorrelated);
    assert_eq!(policy.retry.deadline, Some(Duration::from_secs(300)));
    assert_eq!(policy.retry.budget, Some(BudgetSpec::default()));
    assert_eq!(
        policy.classify.rate_limited_min_wait,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        policy.batch,
        Some(BatchSpec::new(100, Duration::from_millis(50)))
    );
}

#[test]
fn policies_round_trip_through_toml_and_json() {
    for policy in [
        hubspot_from_toml(),
        Policy::default(),
        presets::hubspot(HubSpotTier::Enterprise),
        presets::github(),
        presets::shopify(ShopifyPlan::Plus),
    ] {
        let text = toml::to_string(&policy).expect("serializes to TOML");
        let back: Policy = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, policy, "TOML:\n{text}");
        let json = serde_json::to_string(&policy).expect("serializes to JSON");
        let back: Policy = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, policy, "JSON: {json}");
    }
}

#[test]
fn unknown_fields_and_bad_durations_are_refused_when_read() {
    let typo = toml::from_str::<Policy>("concurency = 10")
        .unwrap_err()
        .to_string();
    assert!(typo.contains("concurency"), "{typo}");
    let bad = toml::from_str::<Policy>("max_wait = \"ten seconds\"")
        .unwrap_err()
        .to_string();
    assert!(bad.contains("ten seconds"), "{bad}");
    let negative = serde_json::from_str::<Policy>(r#"{"max_wait": -5}"#)
        .unwrap_err()
        .to_string();
    assert!(negative.contains("negative"), "{negative}");
    let seconds: Policy = serde_json::from_str(r#"{"max_wait": 1.5}"#).unwrap();
    assert_eq!(seconds.max_wait, Some(Duration::from_millis(1500)));
    // A zero is zero in a known unit only.
    let zero: Policy = toml::from_str("[headroom]\nmargin = \"0s\"").unwrap();
    assert_eq!(zero.headroom.margin, Duration::ZERO);
    let parsecs = toml::from_str::<Policy>("[headroom]\nmargin = \"0parsecs\"")
        .unwrap_err()
        .to_string();
    assert!(parsecs.contains("0parsecs"), "{parsecs}");
}

#[test]
fn every_invalid_field_is_named() {
    type Breaker = Box<dyn Fn(&mut Policy)>;
    let cases: Vec<(&str, Breaker)> = vec![
        ("name", Box::new(|p| p.name = " ".into())),
        (
            "quotas[0].limit",
            Box::new(|p| p.quotas = vec![QuotaSpec::window(0, Duration::from_secs(1))]),
        ),
        (
            "quotas[3].window",
            Box::new(|p| p.quotas.push(QuotaSpec::window(5, Duration::ZERO))),
        ),
        ("quotas[0].window", Box::new(|p| p.quotas[0].window = None)),
        ("quotas[0].limit", Box::new(|p| p.quotas[0].limit = None)),
        ("quotas[0].burst", Box::new(|p| p.quotas[0].burst = Some(3))),
        ("quotas[0]", Box::new(|p| p.quotas[0].rate = Some(3))),
        ("quotas[0]", Box::new(|p| p.quotas[0] = Default::default())),
        ("quotas[2].count", Box::new(|p| p.quotas[2].rate = Some(0))),
        (
            "quotas[2].period",
            Box::new(|p| p.quotas[2].per = Some(Duration::ZERO)),
        ),
        ("quotas[2].burst", Box::new(|p| p.quotas[2].burst = Some(0))),
        // u64::MAX is not "unlimited": more than one call per nanosecond.
        (
            "quotas[2].count",
            Box::new(|p| p.quotas[2].rate = Some(u64::MAX)),
        ),
        (
            "quotas[0].limit",
            Box::new(|p| p.quotas[0].limit = Some(u64::MAX)),
        ),
        ("quotas[2].per", Box::new(|p| p.quotas[2].per = None)),
        ("quotas[2].rate", Box::new(|p| p.quotas[2].rate = None)),
        ("concurrency", Box::new(|p| p.concurrency = Some(0))),
        (
            "headroom.fraction",
            Box::new(|p| p.headroom.fraction = f64::NAN),
        ),
        ("headroom.fraction", Box::new(|p| p.headroom.fraction = 1.5)),
        ("retry.max_attempts", Box::new(|p| p.retry.max_attempts = 0)),
        ("retry.base", Box::new(|p| p.retry.base = Duration::ZERO)),
        (
            "retry.cap",
            Box::new(|p| p.retry.cap = Duration::from_millis(1)),
        ),
        (
            "retry.deadline",
            Box::new(|p| p.retry.deadline = Some(Duration::ZERO)),
        ),
        (
            "retry.budget.ttl",
            Box::new(|p| p.retry.budget.as_mut().unwrap().ttl = Duration::ZERO),
        ),
        (
            "retry.budget.ratio",
            Box::new(|p| p.retry.budget.as_mut().unwrap().ratio = -1.0),
        ),
        (
            "classify.rate_limited_min_wait",
            Box::new(|p| {
                p.classify.rate_limited_min_wait = Some(Duration::from_secs(273_000 * 365 * 86_400))
            }),
        ),
        (
            "batch.max_items",
            Box::new(|p| p.batch.as_mut().unwrap().max_items = 0),
        ),
        (
            "batch.max_latency",
            Box::new(|p| p.batch.as_mut().unwrap().max_latency = Duration::ZERO),
        ),
    ];
    for (field, break_it) in cases {
        let mut policy = hubspot_from_toml();
        break_it(&mut policy);
        let err = policy.validate().expect_err(field);
        assert_eq!(err.field(), field, "{err}");
        assert_eq!(Pacer::new(policy).unwrap_err().field(), field);
    }
}

#[test]
fn adaptive_sections_read_and_validate() {
    let policy: Policy = toml::from_str(
        r#"
        name = "undocumented"
        [adaptive_rate]
        strategy = "aimd"
        initial_rate = 20.0
        max_rate = 500.0
        [adaptive_concurrency]
        initial = 4
        max = 64
        "#,
    )
    .unwrap();
    policy.validate().unwrap();
    let pacer = Pacer::new(policy.clone()).unwrap();
    assert_eq!(
        pacer.rate_controller().map(|c| c.rate().per_second()),
        Some(20.0)
    );
    assert_eq!(pacer.stats().adaptive_concurrency, Some(4));
    // The adaptive band comes after the (zero) quotas.
    assert_eq!(pacer.limiter().quotas().len(), 1);

    let mut no_start = policy.clone();
    no_start.adaptive_rate.as_mut().unwrap().initial_rate = None;
    assert_eq!(
        no_start.validate().unwrap_err().field(),
        "adaptive_rate.initial_rate"
    );
    let mut bad_max = policy.clone();
    bad_max.adaptive_rate.as_mut().unwrap().max_rate = Some(-1.0);
    assert!(
        bad_max
            .validate()
            .unwrap_err()
            .field()
            .starts_with("adaptive_rate.")
    );
    let mut both = policy.clone();
    both.concurrency = Some(10);
    assert_eq!(both.validate().unwrap_err().field(), "adaptive_concurrency");
    let mut small = policy;
    small.adaptive_concurrency.as_mut().unwrap().max = 0;
    assert!(
        small
            .validate()
            .unwrap_err()
            .field()
            .starts_with("adaptive_concurrency.")
    );
}

#[test]
fn every_preset_is_valid_and_says_what_it_is() {
    let all = [
        presets::hubspot(HubSpotTier::Starter),
        presets::hubspot(HubSpotTier::Professional),
        presets::hubspot(HubSpotTier::Enterprise),
        presets::hubspot(HubSpotTier::ApiLimitIncrease),
        presets::salesforce(1_000_000),
        presets::mailchimp(),
        presets::ga4(Ga4Property::Standard),
        presets::ga4(Ga4Property::Analytics360),
        presets::github(),
        presets::stripe(StripeMode::Live),
        presets::stripe(StripeMode::Sandbox),
        presets::slack(SlackTier::Tier1),
        presets::slack(SlackTier::Tier4),
        presets::shopify(ShopifyPlan::Standard),
        presets::shopify(ShopifyPlan::Plus),
    ];
    for policy in all {
        policy
            .validate()
            .unwrap_or_else(|e| panic!("{}: {e}", policy.name));
        Pacer::new(policy).unwrap();
    }
    let hubspot = presets::hubspot(HubSpotTier::Professional);
    assert_eq!(
        hubspot.quotas[0],
        QuotaSpec::window(190, Duration::from_secs(10))
    );
    assert_eq!(
        hubspot.quotas[1],
        QuotaSpec::window(625_000, Duration::from_secs(86_400))
    );
    assert_eq!(presets::mailchimp().concurrency, Some(10));
    assert_eq!(presets::salesforce(5_000).concurrency, Some(25));
    assert_eq!(
        presets::github().classify.rate_limited_min_wait,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        presets::shopify(ShopifyPlan::Standard).quotas[0],
        QuotaSpec::rate(2, Duration::from_secs(1), 40)
    );
}

#[test]
fn time_scaling_shrinks_windows_only() {
    let policy = presets::hubspot(HubSpotTier::Starter).time_scaled(0.01);
    assert_eq!(policy.quotas[0].window, Some(Duration::from_millis(100)));
    assert_eq!(policy.quotas[1].window, Some(Duration::from_secs(864)));
    assert_eq!(policy.max_wait, Some(Duration::from_secs(60)));
    let unchanged = presets::hubspot(HubSpotTier::Starter).time_scaled(f64::NAN);
    assert_eq!(unchanged, presets::hubspot(HubSpotTier::Starter));
}

#[test]
fn a_redis_backend_reads_and_round_trips() {
    use tower_pacer::policy::{BackendSpec, FallbackSpec};
    let policy: Policy = toml::from_str(
        r#"
        name = "hubspot"
        quotas = [{ limit = 100, window = "10s" }]
        [backend]
        type = "redis"
        url = "redis://127.0.0.1:6379"
        key = "portal-42"
        fallback = { type = "local", share = 0.25 }
        timeout = "250ms"
        "#,
    )
    .unwrap();
    assert_eq!(
        policy.backend,
        BackendSpec::Redis {
            url: "redis://127.0.0.1:6379".into(),
            key: "portal-42".into(),
            fallback: FallbackSpec::Local { share: 0.25 },
            timeout: Some(Duration::from_millis(250)),
        }
    );
    let again: Policy = toml::from_str(&toml::to_string(&policy).unwrap()).unwrap();
    assert_eq!(again, policy);
    // The default is local, and fail-closed is the default fallback.
    assert_eq!(Policy::default().backend, BackendSpec::Local);
    let closed: Policy =
        toml::from_str("[backend]\ntype = \"redis\"\nurl = \"redis://127.0.0.1\"\nkey = \"k\"")
            .unwrap();
    assert!(matches!(
        closed.backend,
        BackendSpec::Redis {
            fallback: FallbackSpec::FailClosed,
            ..
        }
    ));
    assert!(toml::from_str::<Policy>("[backend]\ntype = \"etcd\"").is_err());
}

#[cfg(feature = "redis")]
#[test]
fn a_redis_backend_names_its_invalid_fields() {
    use tower_pacer::policy::{BackendSpec, FallbackSpec};
    let base = || {
        let mut policy = Policy::default();
        policy.quotas = vec![QuotaSpec::window(100, Duration::from_secs(10))];
        policy
    };
    let mut ok = base();
    ok.backend = BackendSpec::redis("redis://127.0.0.1:6379", "portal");
    ok.validate().unwrap();
    let error = |backend: BackendSpec| {
        let mut policy = base();
        policy.backend = backend;
        policy.validate().unwrap_err().field().to_owned()
    };
    assert_eq!(error(BackendSpec::redis("http://x", "k")), "backend.url");
    assert_eq!(error(BackendSpec::redis("redis://h", "")), "backend.key");
    assert_eq!(
        error(BackendSpec::redis("redis://h", "a{b}")),
        "backend.key"
    );
    let BackendSpec::Redis { url, key, .. } = BackendSpec::redis("redis://h", "k") else {
        unreachable!()
    };
    assert_eq!(
        error(BackendSpec::Redis {
            url: url.clone(),
            key: key.clone(),
            fallback: FallbackSpec::Local { share: 1.5 },
            timeout: None,
        }),
        "backend.fallback.share"
    );
    assert_eq!(
        error(BackendSpec::Redis {
            url,
            key,
            fallback: FallbackSpec::FailClosed,
            timeout: Some(Duration::ZERO),
        }),
        "backend.timeout"
    );
}

#[cfg(not(feature = "redis"))]
#[test]
fn a_redis_backend_needs_the_feature() {
    let mut policy = Policy::default();
    policy.backend = tower_pacer::policy::BackendSpec::redis("redis://h", "k");
    assert_eq!(policy.validate().unwrap_err().field(), "backend");
}
