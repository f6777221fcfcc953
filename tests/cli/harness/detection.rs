//! Detections the tests send, as JSONL lines.

/// A sender surge on `upn` (critical): the shipped `sender-surge` playbook gates disabling the
/// account, and with an `ip` also blocking its /24.
pub fn surge(id: &str, upn: &str, ip: Option<&str>) -> String {
    let ip = ip.map(|ip| format!(",\"ip\":\"{ip}\"")).unwrap_or_default();
    format!(
        "{{\"id\":\"{id}\",\"source\":\"darktrace\",\"name\":\"Antigena Email: Unusual Login Location + Sender Surge\",\"severity\":\"critical\",\"observed_at\":\"2021-06-01T10:05:00Z\",\"user\":{{\"upn\":\"{upn}\"}}{ip}}}\n"
    )
}

/// An unusual external source for SaaS credential use by `upn` (high, from NG).
pub fn credential_use(id: &str, upn: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"source\":\"darktrace\",\"name\":\"SaaS / Unusual Activity / Unusual External Source for SaaS Credential Use\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T06:12:00Z\",\"user\":{{\"upn\":\"{upn}\"}},\"country\":\"NG\"}}\n"
    )
}

/// An unusual login by `upn` from `ip` at home (medium, from BE): grouped with others from the
/// same range, but nothing in it confirms a compromise.
pub fn login_at_home(id: &str, upn: &str, ip: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"source\":\"darktrace\",\"name\":\"SaaS / Unusual Activity / Unusual External Source for SaaS Credential Use\",\"severity\":\"medium\",\"observed_at\":\"2021-06-01T06:12:00Z\",\"user\":{{\"upn\":\"{upn}\"}},\"ip\":\"{ip}\",\"country\":\"BE\"}}\n"
    )
}
