//! `stanch serve` as a child process on port 0: started with the app's config and database,
//! its address read from its first line (`listening on ADDR`), its log appended to a file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

/// A running `stanch serve`. Dropping it sends SIGTERM and waits.
pub struct Server {
    pub(super) child: Child,
    /// `http://ADDR`, the address it bound.
    pub url: String,
}

impl Server {
    /// Starts the server and waits until it listens. `log_level` sets `STANCH_LOG`.
    pub fn start(database_url: &str, config: &Path, log: &Path, log_level: Option<&str>) -> Server {
        Server::start_with(database_url, config, log, log_level, &[])
    }

    /// [`start`](Self::start) with extra environment variables (`STANCH_LEASE_SECS`).
    pub fn start_with(
        database_url: &str,
        config: &Path,
        log: &Path,
        log_level: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = super::cli::command(database_url);
        command.envs(env.iter().copied());
        command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(log)
                    .expect("server log"),
            );
        if let Some(level) = log_level {
            command.env("STANCH_LOG", level);
        }
        let mut child = command.spawn().expect("spawn stanch serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stanch serve did not start (first line {line:?}); its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        };
        let url = format!("http://{addr}");
        // Keep reading, so a later line never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Server { child, url }
    }

    /// SIGTERM, then its exit code (0: a clean shutdown).
    pub fn stop(mut self) -> i32 {
        self.terminate()
    }

    /// The process id, for signals (SIGSTOP, SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(&mut self) -> i32 {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.code().unwrap_or(-1);
        }
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}
