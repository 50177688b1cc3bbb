//! A server on a thread of its own with a single-threaded runtime, for callers that are not
//! async themselves (the tests' harness, the binary): dropping the handle stops the server,
//! drops the runtime (closing every connection it still holds) and joins the thread.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server; see the module doc.
#[derive(Debug)]
pub(crate) struct OnThread {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OnThread {
    /// Binds `addr` and runs `serve(listener)` on a thread named `name` until dropped.
    pub(crate) fn start<F, Fut>(name: &str, addr: SocketAddr, serve: F) -> io::Result<OnThread>
    where
        F: FnOnce(TcpListener) -> Fut + Send + 'static,
        Fut: Future,
    {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = serve(listener) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(OnThread {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address (the port the OS chose, for port 0).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for OnThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
