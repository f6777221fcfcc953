//! Audit records as RFC 5424 syslog messages over TCP with octet-counting framing (RFC 6587
//! §3.4.1), optionally in TLS (RFC 5425).
//!
//! Plain TCP acknowledges nothing, so a record counts as delivered once it has been written on a
//! connection that is still open [`CONFIRM_AFTER`] later: a receiver that stops or restarts
//! closes its connections, the forwarder sees it, and sends again everything not yet confirmed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stanch_core::audit::AuditRecord;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::ForwardError;

/// How long written records must sit on a connection that stays open before they count.
pub const CONFIRM_AFTER: Duration = Duration::from_millis(1000);

/// `audit.forward.syslog`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSettings {
    /// `host:port`.
    pub address: String,
    pub tls: bool,
    /// PEM certificates to trust instead of the system's (a private CA).
    pub ca_file: Option<PathBuf>,
}

/// Private Enterprise Number 32473, reserved for documentation and examples (RFC 5612): the
/// structured data id stanch's fields travel under.
const SD_ID: &str = "stanch@32473";
/// facility 13 (log audit) × 8 + severity 6 (informational).
const PRIORITY: u8 = 110;

fn sd_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// A printable-ASCII header field without spaces, at most `max` long, or `-`.
fn header_field(value: &str, max: usize) -> String {
    let field: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if field.is_empty() { "-".into() } else { field }
}

/// One record as an RFC 5424 message: the seq, hashes, kind and subject as structured data,
/// and the record as JSON (its payload the exact text that was hashed) as the message.
pub fn message(record: &AuditRecord, hostname: &str) -> String {
    let body = super::record_json(record);
    format!(
        "<{PRIORITY}>1 {at} {host} stanch {pid} {msgid} [{SD_ID} seq=\"{seq}\" hash=\"{hash}\" prev_hash=\"{prev}\" kind=\"{kind}\" subject=\"{subject}\"] {body}",
        at = header_field(&record.at, 48),
        host = header_field(hostname, 255),
        pid = std::process::id(),
        msgid = header_field(&record.kind, 32),
        seq = record.seq,
        hash = sd_escape(&record.hash),
        prev = sd_escape(&record.prev_hash),
        kind = sd_escape(&record.kind),
        subject = sd_escape(&record.subject),
    )
}

/// Octet-counting framing: `LEN SP MSG`.
pub fn frame(message: &str) -> Vec<u8> {
    let mut framed = format!("{} ", message.len()).into_bytes();
    framed.extend_from_slice(message.as_bytes());
    framed
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection to the receiver, and the records written on it not yet confirmed.
pub struct Syslog {
    settings: SyslogSettings,
    hostname: String,
    tls: Option<TlsConnector>,
    conn: Option<Box<dyn Stream>>,
    /// Written and not yet confirmed: (seq, when written).
    unconfirmed: Vec<(i64, Instant)>,
}

impl Syslog {
    pub fn new(settings: SyslogSettings) -> Result<Syslog, ForwardError> {
        let tls = if settings.tls {
            Some(TlsConnector::from(Arc::new(client_config(&settings)?)))
        } else {
            None
        };
        Ok(Syslog {
            settings,
            hostname: hostname(),
            tls,
            conn: None,
            unconfirmed: Vec::new(),
        })
    }

    pub fn address(&self) -> &str {
        &self.settings.address
    }

    async fn connect(&mut self) -> Result<(), ForwardError> {
        let address = self.settings.address.clone();
        let io = |e: std::io::Error| ForwardError::Send(format!("syslog {address}: {e}"));
        let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&address))
            .await
            .map_err(|_| ForwardError::Send(format!("syslog {address}: connect timed out")))?
            .map_err(io)?;
        tcp.set_nodelay(true).map_err(io)?;
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(connector) => {
                let host = address
                    .rsplit_once(':')
                    .map_or(address.as_str(), |(h, _)| h);
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                let name = rustls::pki_types::ServerName::try_from(host)
                    .map_err(|e| ForwardError::Config(format!("syslog {address}: {e}")))?;
                Box::new(connector.connect(name, tcp).await.map_err(io)?)
            }
        };
        self.conn = Some(stream);
        Ok(())
    }

    /// Connects (and completes the TLS handshake), then hangs up: whether records could go.
    pub async fn probe(&mut self) -> Result<(), ForwardError> {
        self.connect().await?;
        if let Some(mut stream) = self.conn.take() {
            let _ = stream.shutdown().await;
        }
        Ok(())
    }

    /// Writes `records` (connecting first if need be); they are confirmed later by
    /// [`Syslog::confirmed`].
    pub async fn send(&mut self, records: &[AuditRecord]) -> Result<(), ForwardError> {
        if self.conn.is_none() {
            self.connect().await?;
        }
        let mut bytes = Vec::new();
        for record in records {
            bytes.extend(frame(&message(record, &self.hostname)));
        }
        let address = self.settings.address.clone();
        let Some(stream) = self.conn.as_mut() else {
            return Err(ForwardError::Send(format!(
                "syslog {address}: not connected"
            )));
        };
        let written = async {
            stream.write_all(&bytes).await?;
            stream.flush().await
        };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(30), written)
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("write timed out")))
        {
            self.drop_connection();
            return Err(ForwardError::Send(format!("syslog {address}: {e}")));
        }
        let now = Instant::now();
        self.unconfirmed
            .extend(records.iter().map(|r| (r.seq, now)));
        Ok(())
    }

    /// The highest seq now confirmed, if any; `Err` when the receiver closed the connection (what
    /// was not confirmed must be sent again).
    pub async fn confirmed(&mut self) -> Result<Option<i64>, ForwardError> {
        let Some(stream) = self.conn.as_mut() else {
            return Ok(None);
        };
        // A read that would wait means the connection is open; an end of stream or an error,
        // that the receiver went away. Receivers send nothing, so nothing read matters.
        let mut buf = [0u8; 512];
        let closed = match tokio::time::timeout(Duration::ZERO, stream.read(&mut buf)).await {
            Err(_) => false,
            Ok(Ok(n)) => n == 0,
            Ok(Err(_)) => true,
        };
        if closed {
            self.drop_connection();
            return Err(ForwardError::Send(format!(
                "syslog {}: the receiver closed the connection",
                self.settings.address
            )));
        }
        let ready = self
            .unconfirmed
            .iter()
            .take_while(|(_, at)| at.elapsed() >= CONFIRM_AFTER)
            .count();
        Ok(self
            .unconfirmed
            .drain(..ready)
            .next_back()
            .map(|(seq, _)| seq))
    }

    /// The last seq written on the live connection and not yet confirmed.
    pub fn last_sent(&self) -> Option<i64> {
        self.unconfirmed.last().map(|(seq, _)| *seq)
    }

    fn drop_connection(&mut self) {
        self.conn = None;
        self.unconfirmed.clear();
    }
}

fn client_config(settings: &SyslogSettings) -> Result<ClientConfig, ForwardError> {
    let mut roots = RootCertStore::empty();
    match &settings.ca_file {
        Some(path) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ForwardError::Config(format!("ca_file {shown}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| ForwardError::Config(format!("ca_file {shown}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ForwardError::Config(format!("ca_file {shown}: {e}")))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ForwardError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            seq: 42,
            at: "2026-01-05T10:00:00.000001Z".into(),
            kind: "action.succeeded".into(),
            subject: "b.jones@contoso.com".into(),
            payload: r#"{"note":"a \"quoted\" ] text"}"#.into(),
            prev_hash: "ab".repeat(32),
            hash: "cd".repeat(32),
        }
    }

    #[test]
    fn a_record_is_an_rfc5424_message_framed_by_its_length() {
        let text = message(&record(), "stanch host");
        assert!(
            text.starts_with("<110>1 2026-01-05T10:00:00.000001Z stanchhost stanch "),
            "{text}"
        );
        assert!(text.contains(" action.succeeded [stanch@32473 seq=\"42\" hash=\"cdcd"));
        let json_start = text.find("] {").unwrap() + 2;
        let body: serde_json::Value = serde_json::from_str(&text[json_start..]).unwrap();
        assert_eq!(body["seq"], 42);
        assert_eq!(
            body["payload"],
            record().payload,
            "the hashed text, exactly"
        );
        let framed = frame(&text);
        let (len, rest) = std::str::from_utf8(&framed)
            .unwrap()
            .split_once(' ')
            .unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len());
    }

    #[test]
    fn structured_data_values_escape_quotes_backslashes_and_brackets() {
        assert_eq!(sd_escape(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(header_field("", 32), "-");
        assert_eq!(header_field(&"x".repeat(40), 32).len(), 32);
    }
}
