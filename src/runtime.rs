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
    /// The calling thread alone: a run's checks and deliveries, which wait on the network
    /// far more than they compute. Without the wake-ups between threads, 10,000 HTTP
    /// checks took 40% less CPU time (half the system time) than on a worker per core.
    One,
    /// One per core.
    PerCore,
    /// Two: light work (a pushed result's deliveries, `serve`).
    Two,
}

/// A runtime with time and I/O enabled: on the calling thread, or multi-threaded.
pub fn build(workers: Workers) -> Result<tokio::runtime::Runtime, RuntimeError> {
    if workers == Workers::One {
        return Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?);
    }
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
        for workers in [Workers::One, Workers::PerCore, Workers::Two] {
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
