//! The one tokio runtime builder: every command that does asynchronous work (a run's
//! checks and deliveries, `report`, `test-notify`, `peers`, `serve`) starts its runtime
//! here, so they all get the same drivers and the same error when it cannot start.

/// The runtime could not start (out of threads or file descriptors).
#[derive(Debug, thiserror::Error)]
#[error("could not start the async runtime: {0}")]
pub struct RuntimeError(#[from] pub std::io::Error);

/// How many worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// One per core: runs, whose checks and deliveries go concurrently.
    PerCore,
    /// Two: light work (a pushed result's deliveries, `serve`).
    Two,
}

/// A multi-threaded runtime with time and I/O enabled.
pub fn build(workers: Workers) -> Result<tokio::runtime::Runtime, RuntimeError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if workers == Workers::Two {
        builder.worker_threads(2);
    }
    Ok(builder.enable_all().build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_runs_timers_and_io() {
        for workers in [Workers::PerCore, Workers::Two] {
            let rt = build(workers).expect("runtime");
            let addr = rt.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                l.local_addr().expect("address")
            });
            assert!(addr.port() > 0);
        }
    }
}
