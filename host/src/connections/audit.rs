//! The audit trail's writer. A request must not wait for a disk commit, so records go
//! into a bounded channel and one task writes them to redb in batches: whatever arrived
//! while the previous commit ran goes into the next. Listing first flushes, so what a
//! caller just did is in the answer. At most [`KEEP_PER_CONNECTION`] records are kept per
//! connection; a crash loses at most the batch being written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{AuditRecord, Store};

/// Records kept per connection.
pub const KEEP_PER_CONNECTION: usize = 1000;
/// Records waiting to be written before new ones are dropped (and counted).
const QUEUE: usize = 16 * 1024;
/// Largest batch in one transaction.
const BATCH: usize = 2048;

enum Message {
    Record(String, AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// The sending side, and the writer task to wait for at shutdown.
#[derive(Debug)]
pub(super) struct AuditLog {
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dropped: AtomicU64,
}

impl AuditLog {
    /// Starts the writer task on the current tokio runtime.
    pub(super) fn start(store: Arc<Store>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_batches(store, receiver));
        Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            dropped: AtomicU64::new(0),
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Message>> {
        self.sender.lock().expect("lock poisoned").clone()
    }

    /// Queues a record; drops it (counted, logged) when the queue is full or closed.
    pub(super) fn push(&self, link: &str, record: AuditRecord) {
        let sent = self
            .sender()
            .is_some_and(|s| s.try_send(Message::Record(link.to_owned(), record)).is_ok());
        if !sent {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "audit queue full or closed; records dropped");
            }
        }
    }

    /// Waits until every record queued before this call is written.
    pub(super) async fn flush(&self) {
        let Some(sender) = self.sender() else { return };
        let (tx, rx) = oneshot::channel();
        if sender.send(Message::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Writes what is queued and stops the writer (it holds the database open).
    pub(super) async fn close(&self) {
        drop(self.sender.lock().expect("lock poisoned").take());
        let writer = self.writer.lock().expect("lock poisoned").take();
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

async fn write_batches(store: Arc<Store>, mut receiver: mpsc::Receiver<Message>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Record(link, record) => batch.push((link, record)),
                Message::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < BATCH {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            let store = store.clone();
            let n = batch.len();
            let written = tokio::task::spawn_blocking(move || {
                store.append_audit(&batch, KEEP_PER_CONNECTION)
            })
            .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(records = n, error = %e, "writing audit records failed")
                }
                Err(e) => tracing::error!(records = n, error = %e, "audit writer task failed"),
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
