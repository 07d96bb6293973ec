//! The signals that stop the server, on every platform: SIGTERM and SIGINT on Unix; on Windows,
//! which has no signals, Ctrl-Break or the console closing stand for SIGTERM and Ctrl-C for
//! SIGINT.

/// One kind of stop request, to be awaited again and again (a second one means "now").
pub(crate) struct StopSignal(Inner);

#[cfg(unix)]
struct Inner(tokio::signal::unix::Signal);

#[cfg(windows)]
enum Inner {
    Interrupt(tokio::signal::windows::CtrlC),
    Terminate(
        tokio::signal::windows::CtrlBreak,
        tokio::signal::windows::CtrlClose,
    ),
}

impl StopSignal {
    /// SIGTERM: stop gracefully.
    pub(crate) fn terminate() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::SignalKind;
            tokio::signal::unix::signal(SignalKind::terminate()).map(|s| Self(Inner(s)))
        }
        #[cfg(windows)]
        {
            Ok(Self(Inner::Terminate(
                tokio::signal::windows::ctrl_break()?,
                tokio::signal::windows::ctrl_close()?,
            )))
        }
    }

    /// SIGINT: stop now.
    pub(crate) fn interrupt() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::SignalKind;
            tokio::signal::unix::signal(SignalKind::interrupt()).map(|s| Self(Inner(s)))
        }
        #[cfg(windows)]
        {
            tokio::signal::windows::ctrl_c().map(|c| Self(Inner::Interrupt(c)))
        }
    }

    /// The next request; `None` once none can come.
    pub(crate) async fn recv(&mut self) -> Option<()> {
        #[cfg(unix)]
        {
            self.0.0.recv().await
        }
        #[cfg(windows)]
        {
            match &mut self.0 {
                Inner::Interrupt(ctrl_c) => ctrl_c.recv().await,
                Inner::Terminate(ctrl_break, ctrl_close) => tokio::select! {
                    received = ctrl_break.recv() => received,
                    received = ctrl_close.recv() => received,
                },
            }
        }
    }
}
