//! `audit:`: where the audit trail is streamed as it is sealed (see `src/forward`).
//!
//! ```yaml
//! audit:
//!   forward:
//!     syslog: { address: siem.example.com:6514, tls: true, ca_file: /etc/stanch/siem-ca.pem }
//!     hec: { url: https://splunk.example.com:8088/services/collector/event, token: ... }
//! ```

use std::path::PathBuf;

use crate::forward::{ForwardSettings, HecSettings, SyslogSettings};
use stanch_core::secret::SecretString;
use stanch_core::yaml::Node;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;

pub(super) fn decode_audit(p: &mut Problems, node: &Node) -> ForwardSettings {
    let mut settings = ForwardSettings::default();
    let Some(f) = decode::fields(p, node, "`audit`", &["forward"]) else {
        return settings;
    };
    let Some(forward) = f.get("forward") else {
        return settings;
    };
    let Some(f) = decode::fields(p, forward, "`audit.forward`", &["syslog", "hec"]) else {
        return settings;
    };
    if let Some(node) = f.get("syslog") {
        settings.syslog = decode_syslog(p, node);
    }
    if let Some(node) = f.get("hec") {
        settings.hec = decode_hec(p, node);
    }
    settings
}

fn decode_syslog(p: &mut Problems, node: &Node) -> Option<SyslogSettings> {
    let what = "`audit.forward.syslog`";
    let f = decode::fields(p, node, what, &["address", "tls", "ca_file"])?;
    let address = f.require(p, "address", what)?;
    let address_loc = address.loc;
    let address = decode::string(p, address, "`audit.forward.syslog.address`")?;
    if address
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.parse::<u16>().is_err())
    {
        p.error(
            address_loc,
            format!("`audit.forward.syslog.address` must be host:port, found `{address}`"),
        );
    }
    let tls = f
        .get("tls")
        .and_then(|n| decode::boolean(p, n, "`audit.forward.syslog.tls`"))
        .unwrap_or(false);
    let ca_file = f
        .get("ca_file")
        .and_then(|n| decode::string(p, n, "`audit.forward.syslog.ca_file`"))
        .map(PathBuf::from);
    if let (Some(n), false) = (f.get("ca_file"), tls) {
        p.error(n.loc, "`audit.forward.syslog.ca_file` needs `tls: true`");
    }
    Some(SyslogSettings {
        address: address.to_string(),
        tls,
        ca_file,
    })
}

fn decode_hec(p: &mut Problems, node: &Node) -> Option<HecSettings> {
    let what = "`audit.forward.hec`";
    let f = decode::fields(p, node, what, &["url", "token"])?;
    let url_node = f.require(p, "url", what)?;
    let url = decode::string(p, url_node, "`audit.forward.hec.url`")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        p.error(
            url_node.loc,
            format!("`audit.forward.hec.url` must be an http(s) URL, found `{url}`"),
        );
    }
    // The token may come from STANCH_AUDIT_HEC_TOKEN instead (checked once both are read).
    let token = f
        .get("token")
        .and_then(|n| decode::string(p, n, "`audit.forward.hec.token`"))
        .unwrap_or_default();
    Some(HecSettings {
        url: url.to_string(),
        token: SecretString::new(token),
    })
}

/// `STANCH_AUDIT_HEC_TOKEN` over the file's token; a collector without any token is refused.
pub(super) fn apply_env(
    settings: &mut ForwardSettings,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), super::ConfigError> {
    let Some(hec) = &mut settings.hec else {
        return Ok(());
    };
    if let Some(token) = env("STANCH_AUDIT_HEC_TOKEN") {
        hec.token = SecretString::new(token);
    }
    if hec.token.expose().is_empty() {
        return Err(super::ConfigError::Env {
            name: "STANCH_AUDIT_HEC_TOKEN",
            value: "(unset)".into(),
            reason: "`audit.forward.hec` needs a token: `token:` in the file or this variable"
                .into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::load_text as load;

    #[test]
    fn syslog_and_hec_receivers_are_read_with_the_token_kept_secret() {
        let config = load(
            "audit:\n  forward:\n    syslog: { address: siem.example.com:6514, tls: true, ca_file: /etc/ca.pem }\n    hec: { url: https://splunk.example.com:8088/services/collector/event, token: t0k3n }\n",
        )
        .unwrap();
        let syslog = config.audit_forward.syslog.clone().unwrap();
        assert_eq!(
            (syslog.address.as_str(), syslog.tls),
            ("siem.example.com:6514", true)
        );
        let hec = config.audit_forward.hec.clone().unwrap();
        assert_eq!(hec.token.expose(), "t0k3n");
        assert!(!format!("{config:?}").contains("t0k3n"));
    }

    #[test]
    fn the_full_examples_commented_audit_section_loads_once_uncommented() {
        let example = include_str!("../../examples/stanch.yaml");
        let section: String = example
            .lines()
            .skip_while(|l| !l.starts_with("# audit:"))
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let config = load(&section).unwrap();
        assert!(config.audit_forward.syslog.is_some() && config.audit_forward.hec.is_some());
    }

    #[test]
    fn the_hec_token_may_come_from_the_environment_and_one_is_required() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "audit:\n  forward:\n    hec: { url: https://splunk.example.com:8088/services/collector/event }\n",
        )
        .unwrap();
        let config = Config::load(Some(file.path()), |n| {
            (n == "STANCH_AUDIT_HEC_TOKEN").then(|| "from-env".to_string())
        })
        .unwrap();
        assert_eq!(config.audit_forward.hec.unwrap().token.expose(), "from-env");
        let err = Config::load(Some(file.path()), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`audit.forward.hec` needs a token"), "{err}");
    }

    #[test]
    fn a_receiver_without_a_port_or_a_ca_file_without_tls_is_refused_where_written() {
        let err =
            load("audit:\n  forward:\n    syslog: { address: siem.example.com }\n").unwrap_err();
        assert!(
            err.contains(":3:24: error: `audit.forward.syslog.address` must be host:port"),
            "{err}"
        );
        let err = load("audit:\n  forward:\n    syslog: { address: \"h:1\", ca_file: x.pem }\n")
            .unwrap_err();
        assert!(err.contains("needs `tls: true`"), "{err}");
    }
}
