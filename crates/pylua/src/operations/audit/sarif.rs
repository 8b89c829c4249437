//! The audit as SARIF 2.1.0 (the format code-scanning services read): one rule per
//! advisory id, damaged-file kind and risky-code category; one result per finding.

use super::AuditReport;
use serde_json::{json, Value};

pub fn to_sarif(report: &AuditReport) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    let rule = |id: &str, text: &str, rules: &mut Vec<Value>| {
        if !rules.iter().any(|r| r["id"] == id) {
            rules.push(json!({"id": id, "shortDescription": {"text": text}}));
        }
    };
    for a in &report.advisories {
        rule(&a.id, &a.summary, &mut rules);
        let fix = a
            .fixed
            .as_ref()
            .map(|f| format!(" (fixed in {f})"))
            .unwrap_or_default();
        results.push(json!({
            "ruleId": a.id,
            "level": "error",
            "message": {"text": format!("{} {} is affected by {}: {}{fix}", a.package, a.version, a.id, a.summary)},
            "locations": [{"logicalLocations": [{"name": a.package, "kind": "package"}]}],
        }));
    }
    for (package, problems) in &report.integrity.damaged {
        rule(
            "integrity",
            "an installed file differs from its rock_manifest checksum",
            &mut rules,
        );
        for p in problems {
            results.push(json!({
                "ruleId": "integrity",
                "level": "error",
                "message": {"text": format!("{package}: {p}")},
                "locations": [{"logicalLocations": [{"name": package, "kind": "package"}]}],
            }));
        }
    }
    for r in &report.risky {
        let id = format!("risky-{}", r.category.as_str());
        rule(
            &id,
            "installed code that reaches past plain computation",
            &mut rules,
        );
        let level = if report.denied.contains(&r.category) {
            "error"
        } else {
            "note"
        };
        let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": r.file}}});
        if r.line > 0 {
            location["physicalLocation"]["region"] = json!({"startLine": r.line});
        }
        results.push(json!({
            "ruleId": id,
            "level": level,
            "message": {"text": format!("{} ({}): {}", r.package, r.category.as_str(), r.code)},
            "locations": [location],
        }));
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "pylua audit", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
        }],
    })
}
