//! A transport in memory for tests of the dispatch loop: it records what it was given
//! and answers each send with the next scripted reply (or takes it when none is left).

use std::collections::VecDeque;
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::{CheckError, Outgoing, SendError, Transport};

/// One message as the stub received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
    /// Whether the stub took it (false: a scripted error was returned).
    pub taken: bool,
}

#[derive(Default)]
pub struct StubTransport {
    replies: Mutex<VecDeque<Result<(), SendError>>>,
    received: Mutex<Vec<Received>>,
    connections: usize,
    witnessed: bool,
}

impl StubTransport {
    /// A stub that takes everything, one send at a time, without a witness.
    pub fn new() -> Self {
        StubTransport {
            connections: 1,
            ..Default::default()
        }
    }

    /// Runs up to `n` sends at once.
    pub fn with_connections(mut self, n: usize) -> Self {
        self.connections = n.max(1);
        self
    }

    /// Behaves like SMTP with `copy_to_mailbox`: the dispatcher adds the witness.
    pub fn with_witness(mut self) -> Self {
        self.witnessed = true;
        self
    }

    /// Queues replies for the next sends, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Result<(), SendError>>) {
        if let Ok(mut q) = self.replies.lock() {
            q.extend(replies);
        }
    }

    /// Every send so far, in the order they were made.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The messages taken, in order.
    pub fn taken(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.taken).collect()
    }
}

impl Transport for StubTransport {
    fn send<'a>(&'a self, mail: Outgoing<'a>) -> BoxFuture<'a, Result<(), SendError>> {
        let reply = self
            .replies
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front())
            .unwrap_or(Ok(()));
        if let Ok(mut r) = self.received.lock() {
            r.push(Received {
                from: mail.from.to_string(),
                to: mail.to.iter().map(|t| t.to_string()).collect(),
                raw: mail.raw.to_vec(),
                taken: reply.is_ok(),
            });
        }
        Box::pin(async move {
            // Lets other sends run between two, as a network would.
            tokio::task::yield_now().await;
            reply
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        Box::pin(async { Ok(()) })
    }

    fn connections(&self) -> usize {
        self.connections
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn describe(&self) -> String {
        "stub".into()
    }
}
