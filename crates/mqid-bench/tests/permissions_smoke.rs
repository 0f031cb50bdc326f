//! `mqid bench permissions` end to end at tiny sizes: a real rumqttd router routes the baseline's
//! PUBLISHes, the checks run, the fleet is built. The figures are for the benchmark; here only
//! the counts and the report's shape are checked.

use std::time::Duration;

use mqid_bench::permissions::{run, Mix, PermissionsOpts};

#[test]
fn permissions_bench_smoke() {
    let opts = PermissionsOpts {
        rule_counts: vec![1, 100],
        publishes: 2_000,
        per_case: Duration::from_millis(20),
        sample: Duration::from_millis(2),
        build_identities: 1_000,
        build_rules: 3_000,
    };
    let report = run(&opts, &mut |_| {}).expect("the bench runs");
    assert_eq!(report.routing.publishes, 2_000);
    assert_eq!(report.routing.runs, 3);
    assert_eq!(
        report.routing.received, 2_000,
        "rumqttd delivered every PUBLISH"
    );
    assert!(report.routing.ns_per_publish > 0.0);
    // Linux: CPU times come from /proc, and the ratios use them.
    assert!(report.routing.cpu_ns_per_publish.is_some_and(|c| c > 0.0));
    assert_eq!(report.checks.len(), 2 * Mix::ALL.len());
    for c in &report.checks {
        assert!(c.publish_ns > 0.0 && c.deliver_ns > 0.0, "{c:?}");
        assert!(
            c.publish_cpu_ns.is_some() && c.deliver_cpu_ns.is_some(),
            "{c:?}"
        );
        // The probes are spread: some allowed, some refused.
        assert!(c.allowed_share > 0.0 && c.allowed_share < 1.0, "{c:?}");
    }
    // 3,000 distinct rules over 1,000 identities: none is dropped as a duplicate.
    assert_eq!(report.build.rules_kept, 3_000);
    assert!(report.build.resolve_ns > 0.0);
    assert_eq!(report.targets.len(), 2);
    assert!(report.hashset_lookup_cpu_ns.is_some_and(|c| c > 0.0));
    let text = report.to_string();
    assert!(text.contains("rumqttd routes one QoS 0 PUBLISH"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["bench"], "permissions");
}
