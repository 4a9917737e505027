//! Connections that can be cut: shutdown waits for calls in flight, but only for
//! `limits.shutdown_grace_ms`; then every connection still open is closed, so a reader that
//! stopped reading (HTTP/2 flow control holding its stream open) cannot hold the process.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A connection that fails every read and write once `cut` turns true.
pub struct Cuttable {
    inner: TcpStream,
    cut: Pin<Box<dyn Future<Output = ()> + Send>>,
    is_cut: bool,
}

impl Cuttable {
    fn new(inner: TcpStream, mut cut: watch::Receiver<bool>) -> Self {
        let cut = Box::pin(async move {
            let _ = cut.wait_for(|cut| *cut).await;
        });
        Self { inner, cut, is_cut: false }
    }

    fn check(&mut self, context: &mut Context<'_>) -> io::Result<()> {
        if !self.is_cut && self.cut.as_mut().poll(context).is_ready() {
            self.is_cut = true;
        }
        if self.is_cut {
            Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed at the end of the drain"))
        } else {
            Ok(())
        }
    }
}

/// Wraps every accepted connection so that `cut` closes it.
pub fn cuttable(
    incoming: impl Stream<Item = io::Result<TcpStream>>,
    cut: watch::Receiver<bool>,
) -> impl Stream<Item = io::Result<Cuttable>> {
    incoming.map(move |accepted| accepted.map(|stream| Cuttable::new(stream, cut.clone())))
}

impl Connected for Cuttable {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for Cuttable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(error) = self.check(context) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_read(context, buffer)
    }
}

impl AsyncWrite for Cuttable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(error) = self.check(context) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write(context, buffer)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Err(error) = self.check(context) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(error) = self.check(context) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}
