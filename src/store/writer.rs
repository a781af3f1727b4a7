//! The one writer: a dedicated thread that owns the only read-write connection and commits
//! queued jobs in batches (group commit), so one fsync serves every request in the batch.
//!
//! Each job runs inside its own savepoint: a job that fails is rolled back alone and the others
//! in the batch still commit. Replies are sent only after the batch's COMMIT returned, so an
//! acknowledged write is on disk (`synchronous=FULL`). Changes a job announces are handed to the
//! publish sink after the commit, in commit order, which is what keeps event cursors lossless.
//!
//! The writer also keeps the latest-page cache ([`PageCache`]) honest. Rather than trusting
//! every job to announce what it changed (retention, for one, announces nothing), temporary
//! triggers on this connection note each channel whose rows or reactions a batch touched;
//! after COMMIT, and before any caller is answered, those channels' cached pages are dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::messages::PageCache;
use super::StoreError;
use crate::domain::change::Change;
use crate::domain::clock::ChangeClock;

/// Receives the changes of each committed batch, in commit order.
pub type PublishSink = Arc<dyn Fn(Vec<Change>) + Send + Sync>;

/// Most jobs committed in one transaction; bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 512;

/// What a job sees: the open transaction (inside the job's savepoint), the change clock and
/// the outbox of changes to publish once committed.
pub struct WriteCtx<'a> {
    pub conn: &'a Connection,
    clock: &'a mut ChangeClock,
    now: Option<f64>,
    outbox: Vec<Change>,
}

impl WriteCtx<'_> {
    /// The change-clock value of this job. Every row a request writes shares it (api.md §5.4),
    /// so it is taken once, on first use.
    pub fn now(&mut self) -> f64 {
        if let Some(now) = self.now {
            return now;
        }
        let now = self.clock.next(crate::domain::time::now());
        self.now = Some(now);
        now
    }

    /// Announces a change, published only if and after the batch commits.
    pub fn publish(&mut self, change: Change) {
        self.outbox.push(change);
    }
}

type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type WriteFn = Box<dyn FnOnce(&mut WriteCtx<'_>) -> (bool, Finish) + Send>;

enum Job {
    Write(WriteFn),
    /// Answered by the thread's loop itself: proves the writer is alive and not wedged.
    Ping(oneshot::Sender<()>),
    /// Commit what came before, then stop: the shutdown flush.
    Stop,
}

/// Counters the metrics and status commands read.
#[derive(Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
    pub largest_batch: AtomicU64,
}

/// A cloneable handle to the writer thread.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    pub stats: Arc<WriterStats>,
    /// Latest pages of public channels, invalidated by this writer's commits.
    pub pages: Arc<PageCache>,
}

/// Temporary (connection-local, in-memory) bookkeeping of the channels a transaction touched.
/// The triggers see every write, whichever code path made it; a temp table rolls back with a
/// failed job's savepoint like everything else.
const TRACK_TOUCHED: &str = "
    PRAGMA temp_store = MEMORY;
    CREATE TEMP TABLE IF NOT EXISTS touched_channels (channel TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TEMP TRIGGER IF NOT EXISTS touched_messages_insert AFTER INSERT ON main.messages BEGIN
        INSERT OR IGNORE INTO touched_channels VALUES (new.channel);
    END;
    CREATE TEMP TRIGGER IF NOT EXISTS touched_messages_update AFTER UPDATE ON main.messages BEGIN
        INSERT OR IGNORE INTO touched_channels VALUES (old.channel), (new.channel);
    END;
    CREATE TEMP TRIGGER IF NOT EXISTS touched_messages_delete AFTER DELETE ON main.messages BEGIN
        INSERT OR IGNORE INTO touched_channels VALUES (old.channel);
    END;
    CREATE TEMP TRIGGER IF NOT EXISTS touched_reactions_insert AFTER INSERT ON main.reactions BEGIN
        INSERT OR IGNORE INTO touched_channels
            SELECT channel FROM messages WHERE id = new.message_id;
    END;
    CREATE TEMP TRIGGER IF NOT EXISTS touched_reactions_delete AFTER DELETE ON main.reactions BEGIN
        INSERT OR IGNORE INTO touched_channels
            SELECT channel FROM messages WHERE id = old.message_id;
    END;
";

/// The channels the open transaction touched, forgetting them; `None` if they cannot be read,
/// in which case the caller must assume every channel changed.
fn take_touched(conn: &Connection) -> Option<Vec<String>> {
    let read = || -> rusqlite::Result<Vec<String>> {
        let channels = conn
            .prepare_cached("SELECT channel FROM temp.touched_channels")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        if !channels.is_empty() {
            conn.prepare_cached("DELETE FROM temp.touched_channels")?
                .execute([])?;
        }
        Ok(channels)
    };
    match read() {
        Ok(channels) => Some(channels),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the channels a batch touched; dropping every cached page");
            None
        }
    }
}

impl Writer {
    /// Starts the writer thread on `conn`, which must already be migrated.
    pub fn start(
        conn: Connection,
        clock: ChangeClock,
        sink: PublishSink,
    ) -> Result<(Writer, JoinHandle<()>), StoreError> {
        conn.execute_batch(TRACK_TOUCHED)?;
        let (queue, jobs) = mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let pages = Arc::new(PageCache::default());
        let thread_stats = stats.clone();
        let thread_pages = pages.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(conn, clock, jobs, sink, thread_stats, thread_pages))
            .map_err(StoreError::Thread)?;
        Ok((
            Writer {
                queue,
                stats,
                pages,
            },
            handle,
        ))
    }

    /// Runs `job` in the writer's transaction and returns its result once committed.
    pub async fn write<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write: WriteFn = Box::new(move |ctx| {
            let result = job(ctx);
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit_error| {
                let outcome = match commit_error {
                    Some(e) => Err(StoreError::Commit(e.to_string())),
                    None => result,
                };
                let _ = reply.send(outcome);
            });
            (ok, finish)
        });
        self.queue
            .send(Job::Write(write))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Asks the thread to stop once everything queued before this call is committed.
    pub(super) fn stop(&self) {
        let _ = self.queue.send(Job::Stop);
    }

    /// Resolves when the writer thread has taken a job from its queue: the liveness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Ping(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)
    }
}

/// Longest a batch waits for writers it expects (see [`run`]).
const MAX_LINGER: Duration = Duration::from_millis(2);

fn run(
    conn: Connection,
    mut clock: ChangeClock,
    jobs: mpsc::Receiver<Job>,
    sink: PublishSink,
    stats: Arc<WriterStats>,
    pages: Arc<PageCache>,
) {
    let mut batch: Vec<WriteFn> = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    // Group commit under concurrency: the writers the last commit answered are about to
    // submit again. Committing whatever happens to be queued the moment the writer is free
    // splits them into convoys that take turns, each paying a commit of its own; waiting a
    // little for the expected ones (at most about one commit's time, so the wait never costs
    // more than the commit it saves) keeps them in one transaction.
    let mut last_size = 0usize;
    let mut linger = Duration::ZERO;
    loop {
        // Jobs that arrived while the last batch was committing come from writers that were
        // not in it: expect them on top of those who were.
        let (first, mut draining) = match jobs.try_recv() {
            Ok(job) => (job, true),
            Err(mpsc::TryRecvError::Empty) => match jobs.recv() {
                Ok(job) => (job, false),
                // Every Writer handle is gone, which also means stop.
                Err(_) => break,
            },
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        let mut next = Some(first);
        let mut queued = 0usize;
        let mut until: Option<Instant> = None;
        loop {
            if let Some(job) = next.take() {
                match job {
                    Job::Ping(reply) => {
                        let _ = reply.send(());
                    }
                    Job::Write(write) => {
                        batch.push(write);
                        if draining {
                            queued += 1;
                        }
                    }
                    Job::Stop => stopping = true,
                }
            }
            if batch.len() >= MAX_BATCH || stopping {
                break;
            }
            if let Ok(job) = jobs.try_recv() {
                next = Some(job);
                continue;
            }
            draining = false;
            let expected = (last_size + queued).min(MAX_BATCH);
            if batch.is_empty() || batch.len() >= expected || linger.is_zero() {
                break;
            }
            let until = *until.get_or_insert_with(|| Instant::now() + linger);
            match jobs.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(job) => next = Some(job),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            last_size = batch.len();
            let took = commit_batch(&conn, &mut clock, &mut batch, &sink, &stats, &pages);
            linger = if last_size > 1 {
                took.min(MAX_LINGER)
            } else {
                Duration::ZERO
            };
        }
        if stopping {
            break;
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    tracing::debug!("store writer stopped");
}

fn commit_batch(
    conn: &Connection,
    clock: &mut ChangeClock,
    batch: &mut Vec<WriteFn>,
    sink: &PublishSink,
    stats: &WriterStats,
    pages: &PageCache,
) -> Duration {
    let started = Instant::now();
    let size = batch.len() as u64;
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut changes = Vec::new();
    let begin = conn.execute_batch("BEGIN IMMEDIATE");
    if let Err(e) = begin {
        let error = StoreError::Sqlite(e);
        tracing::error!(error = %error, "could not begin a write transaction");
        // Dropping the jobs unrun drops their reply channels: each caller gets StoreError::Closed.
        batch.clear();
        return started.elapsed();
    }
    for write in batch.drain(..) {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            tracing::error!(error = %e, "savepoint failed");
        }
        let mut ctx = WriteCtx {
            conn,
            clock,
            now: None,
            outbox: Vec::new(),
        };
        let (ok, finish) = write(&mut ctx);
        let outbox = std::mem::take(&mut ctx.outbox);
        if ok {
            let _ = conn.execute_batch("RELEASE job");
            changes.extend(outbox);
        } else {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
        }
        finishes.push(finish);
    }
    let touched = take_touched(conn);
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            // Before anyone is answered or any event goes out: whoever learns of this write
            // must not then be served a cached page without it.
            match &touched {
                Some(channels) => pages.invalidate(channels.iter().map(String::as_str)),
                None => pages.invalidate_all(),
            }
            for finish in finishes {
                finish(None);
            }
            if !changes.is_empty() {
                sink(changes);
            }
        }
        Err(e) => {
            let error = StoreError::Sqlite(e);
            tracing::error!(error = %error, jobs = size, "batch commit failed; every job in it is refused");
            let _ = conn.execute_batch("ROLLBACK");
            for finish in finishes {
                finish(Some(&error));
            }
        }
    }
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.jobs.fetch_add(size, Ordering::Relaxed);
    stats.largest_batch.fetch_max(size, Ordering::Relaxed);
    let took = started.elapsed();
    tracing::trace!(
        jobs = size,
        micros = took.as_micros() as u64,
        "batch committed"
    );
    took
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn writer() -> Writer {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        crate::store::migrations::apply(&mut conn).unwrap();
        let (writer, _thread) =
            Writer::start(conn, ChangeClock::default(), Arc::new(|_| {})).unwrap();
        writer
    }

    fn cache(writer: &Writer, channel: &str) {
        let ticket = writer.pages.lookup(channel, 50).unwrap_err();
        writer
            .pages
            .fill(channel, 50, ticket, Bytes::from_static(b"[]"));
        assert!(writer.pages.lookup(channel, 50).is_ok());
    }

    async fn insert(writer: &Writer, channel: &'static str) -> i64 {
        writer
            .write(move |ctx| {
                ctx.conn.execute(
                    "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES (?1, 'bob', 'x', 1, 1)",
                    [channel],
                )?;
                Ok(ctx.conn.last_insert_rowid())
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_commit_drops_the_cached_pages_of_the_channels_it_touched_announced_or_not() {
        let writer = writer();
        cache(&writer, "general");
        cache(&writer, "random");
        // Like retention: a raw write that publishes nothing.
        insert(&writer, "general").await;
        assert!(writer.pages.lookup("general", 50).is_err());
        assert!(writer.pages.lookup("random", 50).is_ok());
    }

    #[tokio::test]
    async fn reactions_and_deletes_drop_the_page_of_their_row() {
        let writer = writer();
        let id = insert(&writer, "random").await;
        cache(&writer, "random");
        writer
            .write(move |ctx| {
                ctx.conn.execute(
                    "INSERT INTO reactions(message_id, emoji, username, username_key, ts) VALUES (?1, 'x', 'bob', 'bob', 2)",
                    [id],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(writer.pages.lookup("random", 50).is_err());
        cache(&writer, "random");
        writer
            .write(move |ctx| {
                ctx.conn
                    .execute("DELETE FROM messages WHERE id = ?1", [id])?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(writer.pages.lookup("random", 50).is_err());
    }

    #[tokio::test]
    async fn a_failed_job_leaves_cached_pages_alone() {
        let writer = writer();
        cache(&writer, "general");
        let failed = writer
            .write(|ctx| {
                ctx.conn.execute(
                    "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', 'bob', 'x', 1, 1)",
                    [],
                )?;
                Err::<(), _>(StoreError::Rejected("no".into()))
            })
            .await;
        assert!(failed.is_err());
        assert!(writer.pages.lookup("general", 50).is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_behind_a_commit_share_the_next_transaction() {
        let writer = writer();
        // Hold the writer inside a job so that the burst below queues up behind it.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let holder = writer.clone();
        let slow = tokio::spawn(async move {
            holder
                .write(move |_| {
                    let _ = started_tx.send(());
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    Ok(())
                })
                .await
        });
        started_rx.recv().unwrap();
        let burst: Vec<_> = (0..20)
            .map(|_| {
                let writer = writer.clone();
                tokio::spawn(async move { insert(&writer, "general").await })
            })
            .collect();
        for write in burst {
            write.await.unwrap();
        }
        slow.await.unwrap().unwrap();
        assert_eq!(writer.stats.batches.load(Ordering::Relaxed), 2);
        assert_eq!(writer.stats.largest_batch.load(Ordering::Relaxed), 20);
    }
}
