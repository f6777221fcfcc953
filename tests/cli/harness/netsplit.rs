//! A TCP proxy in front of PostgreSQL that can partition the replicas from their database: while
//! cut, every connection (open or new) is held open and nothing is forwarded, as a network that
//! drops packets does; restored, the held connections are closed and new ones go through.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

type Halves = (OwnedReadHalf, OwnedWriteHalf, OwnedReadHalf, OwnedWriteHalf);

pub struct Netsplit {
    pub port: u16,
    cut: watch::Sender<bool>,
    held: Arc<Mutex<Vec<Halves>>>,
}

impl Netsplit {
    pub fn start(runtime: &tokio::runtime::Runtime, upstream: SocketAddr) -> Netsplit {
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a port for the proxy");
        let port = listener.local_addr().unwrap().port();
        let (cut, watching) = watch::channel(false);
        let held: Arc<Mutex<Vec<Halves>>> = Arc::default();
        let holding = held.clone();
        runtime.spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let mut cut = watching.clone();
                let held = holding.clone();
                tokio::spawn(async move {
                    if *cut.borrow() {
                        // Accepted and never answered until the network is back.
                        let _ = cut.wait_for(|c| !*c).await;
                        drop(inbound);
                        return;
                    }
                    let Ok(outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut ri, mut wi) = inbound.into_split();
                    let (mut ro, mut wo) = outbound.into_split();
                    tokio::select! {
                        _ = tokio::io::copy(&mut ri, &mut wo) => {}
                        _ = tokio::io::copy(&mut ro, &mut wi) => {}
                        _ = cut.wait_for(|c| *c) => {
                            // Partitioned: hold both ends silently, then drop them when the
                            // network is back (the database has long given up on them).
                            held.lock().unwrap().push((ri, wi, ro, wo));
                        }
                    }
                });
            }
        });
        Netsplit { port, cut, held }
    }

    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
        self.held.lock().unwrap().clear();
    }
}
