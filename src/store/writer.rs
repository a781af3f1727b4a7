//! The one writer: a dedicated thread that owns the only read-write connection and commits
//! queued jobs in batches (group commit), so one fsync serves every request in the batch.
//!
//! Each job runs inside its own savepoint: a job that fails is rolled back alone and the others
//! in the batch still commit. Replies are sent only after the batch's COMMIT returned, so an
//! acknowledged write is on disk (`synchronous=FULL`). Changes a job announces are handed to the
//! publish sink after the commit, in commit order, which is what keeps event cursors lossless.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

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
}

impl Writer {
    /// Starts the writer thread on `conn`, which must already be migrated.
    pub fn start(
        conn: Connection,
        clock: ChangeClock,
        sink: PublishSink,
    ) -> Result<(Writer, JoinHandle<()>), StoreError> {
        let (queue, jobs) = mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(conn, clock, jobs, sink, thread_stats))
            .map_err(StoreError::Thread)?;
        Ok((Writer { queue, stats }, handle))
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

fn run(
    conn: Connection,
    mut clock: ChangeClock,
    jobs: mpsc::Receiver<Job>,
    sink: PublishSink,
    stats: Arc<WriterStats>,
) {
    let mut batch: Vec<WriteFn> = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    // recv() fails only when every Writer handle is gone, which also means stop.
    while let Ok(first) = jobs.recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Ping(reply) => {
                    let _ = reply.send(());
                }
                Job::Write(write) => batch.push(write),
                Job::Stop => stopping = true,
            }
            if batch.len() < MAX_BATCH && !stopping {
                next = jobs.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit_batch(&conn, &mut clock, &mut batch, &sink, &stats);
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
) {
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
        return;
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
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
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
    tracing::trace!(
        jobs = size,
        micros = started.elapsed().as_micros() as u64,
        "batch committed"
    );
}
