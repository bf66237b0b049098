//! A minimal keep-alive HTTP/1.1 server for `scripts/bench.py`: answers every request
//! with 200 and a short body, fast enough that the client under test is what is measured.
//! Usage: bench_server PORTFILE (writes the port it listens on, on 127.0.0.1, to PORTFILE).

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let port_file = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bench_server.port".into());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    std::fs::write(&port_file, listener.local_addr()?.port().to_string())?;
    loop {
        let (conn, _) = listener.accept().await?;
        tokio::spawn(async move {
            let (r, mut w) = conn.into_split();
            let mut r = BufReader::new(r);
            loop {
                let mut length = 0usize;
                let mut line = String::new();
                let mut first = true;
                loop {
                    line.clear();
                    match r.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == "\r\n" || line == "\n" {
                        break;
                    }
                    if !first {
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    first = false;
                }
                let mut body = vec![0u8; length];
                if r.read_exact(&mut body).await.is_err() {
                    return;
                }
                let resp =
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";
                if w.write_all(resp).await.is_err() {
                    return;
                }
            }
        });
    }
}
