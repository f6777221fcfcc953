//! A syslog receiver for the audit forwarding tests: RFC 6587 octet-counted frames over TCP,
//! each frame kept with the connection it came on, optionally in TLS. It can be stopped (every
//! connection closed, the port freed) and started again on the same port, like a SIEM restarting.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message received: the connection's number (from 0, across restarts) and the text.
#[derive(Debug, Clone)]
pub struct Frame {
    pub connection: usize,
    pub message: String,
}

impl Frame {
    /// The `seq="N"` of stanch's structured data.
    pub fn seq(&self) -> i64 {
        let start = self.message.find("seq=\"").expect("a seq") + 5;
        let end = self.message[start..].find('"').unwrap() + start;
        self.message[start..end].parse().unwrap()
    }

    /// The record as JSON (the message after the structured data).
    pub fn record(&self) -> serde_json::Value {
        let start = self.message.find("] {").expect("a JSON body") + 2;
        serde_json::from_str(&self.message[start..]).unwrap()
    }
}

pub struct SyslogReceiver {
    pub addr: SocketAddr,
    frames: Arc<Mutex<Vec<Frame>>>,
    connections: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

use tokio_rustls::rustls;

impl SyslogReceiver {
    pub fn start() -> SyslogReceiver {
        SyslogReceiver::start_with(None)
    }

    /// A receiver speaking TLS (RFC 5425) with `tests/cli/fixtures/syslog-tls.*`, a certificate
    /// for `localhost` signed by `syslog-ca.crt`.
    pub fn start_tls() -> SyslogReceiver {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let fixtures = super::project_root().join("tests/cli/fixtures");
        let certs: Vec<CertificateDer> =
            CertificateDer::pem_file_iter(fixtures.join("syslog-tls.crt"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(fixtures.join("syslog-tls.key")).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        SyslogReceiver::start_with(Some(Arc::new(config)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> SyslogReceiver {
        let mut receiver = SyslogReceiver {
            addr: "127.0.0.1:0".parse().unwrap(),
            frames: Arc::default(),
            connections: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
            tls,
        };
        receiver.listen();
        receiver
    }

    fn listen(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("bind the syslog receiver");
        self.addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        self.stop = Arc::default();
        let tls = self.tls.clone();
        let (stop, frames, connections) = (
            self.stop.clone(),
            self.frames.clone(),
            self.connections.clone(),
        );
        self.threads.push(std::thread::spawn(move || {
            let mut readers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let number = {
                            let mut n = connections.lock().unwrap();
                            *n += 1;
                            *n - 1
                        };
                        let (stop, frames, tls) = (stop.clone(), frames.clone(), tls.clone());
                        readers.push(std::thread::spawn(move || {
                            stream
                                .set_read_timeout(Some(Duration::from_millis(20)))
                                .unwrap();
                            match tls {
                                None => read_frames(stream, number, &stop, &frames),
                                Some(config) => {
                                    let conn = rustls::ServerConnection::new(config).unwrap();
                                    let tls = rustls::StreamOwned::new(conn, stream);
                                    read_frames(tls, number, &stop, &frames)
                                }
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for reader in readers {
                let _ = reader.join();
            }
        }));
    }

    /// Closes every connection and the port, as a receiver going down does.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) {
        self.listen();
    }

    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().unwrap().clone()
    }
}

impl Drop for SyslogReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_frames(
    mut stream: impl Read,
    connection: usize,
    stop: &AtomicBool,
    frames: &Mutex<Vec<Frame>>,
) {
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Err(e)
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return;
            }
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        // LEN SP MSG, as many as are complete.
        while let Some(space) = buffer.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buffer[..space])
                .ok()
                .and_then(|l| l.parse().ok())
                .expect("an octet count before each frame");
            if buffer.len() < space + 1 + len {
                break;
            }
            let message = String::from_utf8(buffer[space + 1..space + 1 + len].to_vec()).unwrap();
            buffer.drain(..space + 1 + len);
            frames.lock().unwrap().push(Frame {
                connection,
                message,
            });
        }
    }
}
