//! The audit trail's writer. A request must not wait for a disk commit, so records go
//! into a bounded channel and one task writes them to redb in batches: after the first
//! record of a batch it gathers for [`GATHER`] (sends during that time wake nobody), then
//! commits everything that arrived in one transaction. Listing first flushes, which cuts
//! the gathering short, so what a caller just did is in the answer. At most
//! [`KEEP_PER_CONNECTION`] records are kept per connection; a crash loses at most the
//! records of the last [`GATHER`] and the batch being written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use switchboard_model::records::AuditRecord;
use switchboard_store::AuditRepo;

/// Records kept per connection.
pub const KEEP_PER_CONNECTION: usize = 1000;
/// Records waiting to be written before new ones are dropped (and counted).
const QUEUE: usize = 16 * 1024;
/// Largest batch in one transaction.
const BATCH: usize = 4096;
/// How long a batch gathers records before it is committed. A commit per request
/// (an fsync, a blocking-thread hop, a wake-up of the writer per record) cost a request
/// through a connection tens of microseconds on two cores; gathering makes it a few
/// commits a second however busy the host is.
pub(crate) const GATHER: Duration = Duration::from_millis(100);

enum Message {
    Record(String, AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// The sending side, and the writer task to wait for at shutdown.
#[derive(Debug)]
pub(crate) struct AuditLog {
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Cuts a batch's gathering short (flush, close).
    kick: Arc<Notify>,
    dropped: AtomicU64,
}

impl AuditLog {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn start(store: Arc<dyn AuditRepo>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let kick = Arc::new(Notify::new());
        let writer = tokio::spawn(write_batches(store, receiver, kick.clone()));
        Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            kick,
            dropped: AtomicU64::new(0),
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Message>> {
        self.sender.lock().expect("lock poisoned").clone()
    }

    /// Queues a record of connection `id`; drops it (counted, logged) when the queue is
    /// full or closed.
    pub(crate) fn push(&self, id: &str, record: AuditRecord) {
        let sent = self
            .sender()
            .is_some_and(|s| s.try_send(Message::Record(id.to_owned(), record)).is_ok());
        if !sent {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "audit queue full or closed; records dropped");
            }
        }
    }

    /// Waits until every record queued before this call is written.
    pub(crate) async fn flush(&self) {
        let Some(sender) = self.sender() else { return };
        let (tx, rx) = oneshot::channel();
        if sender.send(Message::Flush(tx)).await.is_ok() {
            self.kick.notify_one();
            let _ = rx.await;
        }
    }

    /// Writes what is queued and stops the writer (it holds the database open).
    pub(crate) async fn close(&self) {
        drop(self.sender.lock().expect("lock poisoned").take());
        self.kick.notify_one();
        let writer = self.writer.lock().expect("lock poisoned").take();
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

async fn write_batches(
    store: Arc<dyn AuditRepo>,
    mut receiver: mpsc::Receiver<Message>,
    kick: Arc<Notify>,
) {
    while let Some(first) = receiver.recv().await {
        // Under load the queue already holds a batch: commit at once.
        if matches!(first, Message::Record(..)) && receiver.len() < BATCH {
            // Not waiting on the channel meanwhile: a send wakes nobody.
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                () = kick.notified() => {}
            }
        }
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
            let n = batch.len();
            if let Err(e) = store.append_audit(batch, KEEP_PER_CONNECTION).await {
                tracing::error!(records = n, error = %e, "writing audit records failed");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_model::auth::AuthConfig;
    use switchboard_model::records::{ConnectionRecord, ServiceRecord};
    use switchboard_store::{RedbStore, Repositories};

    /// A store with connection `con_1` (records of unknown connections are dropped).
    async fn store_with_a_connection(dir: &std::path::Path) -> Arc<dyn Repositories> {
        let store = RedbStore::open(&dir.join("db.redb"))
            .unwrap()
            .repositories();
        let service: ServiceRecord = serde_json::from_value(serde_json::json!({
            "id": "svc_1", "link_name": "acme", "display_name": "Acme",
            "auth": AuthConfig::Basic, "api_origins": ["https://api.example.com"],
            "created_by": "admin", "created_at_ms": 1, "updated_at_ms": 1
        }))
        .unwrap();
        store.create_service(&service, None).await.unwrap();
        let connection: ConnectionRecord = serde_json::from_value(serde_json::json!({
            "id": "con_1", "link_name": "c1", "display_name": "C1", "service": "acme",
            "service_id": "svc_1", "status": "not_connected", "created_by": "admin",
            "created_at_ms": 1, "updated_at_ms": 1
        }))
        .unwrap();
        store.create_connections(&[connection]).await.unwrap();
        store
    }

    fn record(n: u64) -> AuditRecord {
        AuditRecord {
            time_ms: n,
            function: "f".into(),
            method: "GET".into(),
            origin: "https://api.example.com".into(),
            path: "/".into(),
            status: Some(200),
            outcome: "ok".into(),
            duration_us: 1,
        }
    }

    #[tokio::test]
    async fn flush_cuts_the_gathering_short_and_close_writes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_a_connection(dir.path()).await;
        let log = AuditLog::start(store.clone());
        for n in 0..3 {
            log.push("con_1", record(n));
        }
        let started = std::time::Instant::now();
        log.flush().await;
        assert!(
            started.elapsed() < GATHER * 5,
            "flush waited the gathering out"
        );
        assert_eq!(store.audit("con_1", 10).await.unwrap().len(), 3);
        for n in 3..5 {
            log.push("con_1", record(n));
        }
        log.close().await;
        let times: Vec<u64> = store
            .audit("con_1", 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.time_ms)
            .collect();
        assert_eq!(times, [0, 1, 2, 3, 4]);
        // Closed: further records are dropped, not an error.
        log.push("con_1", record(9));
        assert_eq!(log.dropped.load(Ordering::Relaxed), 1);
    }
}
