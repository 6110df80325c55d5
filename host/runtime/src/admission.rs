//! Who may run now: call slots (the instance pool's size), a per-function cap,
//! and a host-wide memory budget (the sum of the memory limits of running calls).
//! Waiting calls are served fairly across functions: a freed slot goes to the
//! waiting function with the fewest running calls (oldest first on a tie), so a
//! busy function cannot hold every slot while others wait.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

/// The right to run one call; dropping it frees its slot and memory and lets the
/// next waiter in.
#[derive(Debug)]
pub(super) struct Grant {
    admission: Arc<Admission>,
    function: Arc<str>,
    bytes: u64,
    /// False for a grant whose accounting was already undone under the lock.
    live: bool,
}

impl Drop for Grant {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        let mut s = self.admission.state.lock().expect("lock poisoned");
        s.release(&self.function, self.bytes);
        self.admission.dispatch(&mut s);
    }
}

#[derive(Debug)]
struct Waiter {
    seq: u64,
    deadline: Instant,
    bytes: u64,
    cap: usize,
    tx: oneshot::Sender<Grant>,
}

#[derive(Debug, Default)]
struct State {
    free_slots: usize,
    free_bytes: u64,
    running: HashMap<Arc<str>, usize>,
    waiting: HashMap<Arc<str>, VecDeque<Waiter>>,
    next_seq: u64,
}

impl State {
    fn running(&self, function: &str) -> usize {
        self.running.get(function).copied().unwrap_or(0)
    }

    fn fits(&self, function: &str, bytes: u64, cap: usize) -> bool {
        self.free_slots > 0 && self.free_bytes >= bytes && self.running(function) < cap
    }

    /// The waiter with the fewest running calls of its function (oldest first on a tie)
    /// among the queue heads under their function's cap: `(running, seq, function)`.
    fn fairest_eligible(&self) -> Option<(usize, u64, Arc<str>)> {
        let now = Instant::now();
        let mut best: Option<(usize, u64, Arc<str>)> = None;
        for (function, queue) in &self.waiting {
            let Some(head) = queue.front() else { continue };
            let running = self.running(function);
            // A caller gone or past its deadline holds nothing back (dispatch drops it).
            if running >= head.cap || head.tx.is_closed() || head.deadline <= now {
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(r, q, _)| (running, head.seq) < (*r, *q))
            {
                best = Some((running, head.seq, function.clone()));
            }
        }
        best
    }

    fn take(&mut self, function: &Arc<str>, bytes: u64) {
        self.free_slots -= 1;
        self.free_bytes -= bytes;
        *self.running.entry(function.clone()).or_default() += 1;
    }

    fn release(&mut self, function: &str, bytes: u64) {
        self.free_slots += 1;
        self.free_bytes += bytes;
        if let Some(n) = self.running.get_mut(function) {
            *n -= 1;
            if *n == 0 {
                self.running.remove(function);
            }
        }
    }
}

/// Why a call was not admitted before its deadline.
#[derive(Debug)]
pub(super) struct Refused {
    /// Slots in use / all slots, budget in use / budget (bytes), this function's running calls and cap.
    pub slots_used: usize,
    pub slots: usize,
    pub bytes_used: u64,
    pub budget_bytes: u64,
    pub running: usize,
    pub cap: usize,
}

/// Call admission for one runtime.
#[derive(Debug)]
pub(super) struct Admission {
    slots: usize,
    budget_bytes: u64,
    state: Mutex<State>,
}

impl Admission {
    pub(super) fn new(slots: usize, budget_bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            slots,
            budget_bytes,
            state: Mutex::new(State {
                free_slots: slots,
                free_bytes: budget_bytes,
                ..State::default()
            }),
        })
    }

    fn refused(&self, s: &State, function: &str, cap: usize) -> Refused {
        Refused {
            slots_used: self.slots - s.free_slots,
            slots: self.slots,
            bytes_used: self.budget_bytes - s.free_bytes,
            budget_bytes: self.budget_bytes,
            running: s.running(function),
            cap,
        }
    }

    /// Gives freed capacity to waiters, fairest first, while any fits.
    fn dispatch(self: &Arc<Self>, s: &mut State) {
        // The common case on release: nobody waits (and no clock read is needed).
        if s.waiting.is_empty() {
            return;
        }
        // Callers that went away (a dropped request) leave closed entries; a
        // caller past its deadline could not run anyway (its own timer answers it).
        let now = Instant::now();
        s.waiting.retain(|_, queue| {
            queue.retain(|w| !w.tx.is_closed() && w.deadline > now);
            !queue.is_empty()
        });
        loop {
            // The fairest waiter its function's cap lets run gets the next slot. When it
            // does not fit yet (the memory budget), nobody is let in past it: the memory
            // freed is kept for it, or a stream of small calls would starve a big one.
            let Some((_, _, function)) = s.fairest_eligible() else {
                return;
            };
            let head = s.waiting[&function].front().expect("non-empty queue");
            if !s.fits(&function, head.bytes, head.cap) {
                return;
            }
            let queue = s.waiting.get_mut(&function).expect("chosen above");
            let waiter = queue.pop_front().expect("chosen above");
            if queue.is_empty() {
                s.waiting.remove(&function);
            }
            s.take(&function, waiter.bytes);
            let grant = Grant {
                admission: self.clone(),
                function: function.clone(),
                bytes: waiter.bytes,
                live: true,
            };
            if let Err(mut grant) = waiter.tx.send(grant) {
                // The waiter gave up in between: undo here, under the lock we hold.
                s.release(&function, grant.bytes);
                grant.live = false;
            }
        }
    }

    /// Waits until `function` may run a call reserving `bytes` of the memory
    /// budget, with at most `cap` of its calls running, or until `deadline`.
    pub(super) async fn admit(
        self: &Arc<Self>,
        function: &Arc<str>,
        bytes: u64,
        cap: usize,
        deadline: Instant,
    ) -> Result<Grant, Refused> {
        let cap = cap.max(1);
        let mut rx = {
            let mut s = self.state.lock().expect("lock poisoned");
            if bytes > self.budget_bytes {
                return Err(self.refused(&s, function, cap));
            }
            // Queue behind this function's own waiters; others were already
            // offered everything that fits (dispatch runs on every release), so a
            // waiter its cap lets run is waiting for slots or memory: a newcomer goes
            // first only when it is fairer (fewer running calls of its function).
            let fairer = s
                .fairest_eligible()
                .is_none_or(|(running, _, _)| s.running(function) < running);
            if !s.waiting.contains_key(function) && fairer && s.fits(function, bytes, cap) {
                s.take(function, bytes);
                return Ok(Grant {
                    admission: self.clone(),
                    function: function.clone(),
                    bytes,
                    live: true,
                });
            }
            let (tx, rx) = oneshot::channel();
            let seq = s.next_seq;
            s.next_seq += 1;
            s.waiting
                .entry(function.clone())
                .or_default()
                .push_back(Waiter {
                    seq,
                    deadline,
                    bytes,
                    cap,
                    tx,
                });
            rx
        };
        match tokio::time::timeout_at(deadline.into(), &mut rx).await {
            Ok(Ok(grant)) => Ok(grant),
            // Dropped by dispatch at (or just before) our deadline, or timed out.
            Ok(Err(_)) | Err(_) => {
                let mut s = self.state.lock().expect("lock poisoned");
                // Under the lock, dispatch either still has us queued (closing
                // marks our entry, removed here) or already sent a grant (taken
                // back after unlocking: it is too late to run).
                rx.close();
                if let Some(queue) = s.waiting.get_mut(function) {
                    queue.retain(|w| !w.tx.is_closed());
                    if queue.is_empty() {
                        s.waiting.remove(function);
                    }
                }
                // We may have been the head that blocked smaller calls behind us.
                self.dispatch(&mut s);
                let refused = self.refused(&s, function, cap);
                drop(s);
                drop(rx.try_recv());
                Err(refused)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_function_with_fewest_running_calls() {
        let adm = Admission::new(2, 1 << 30);
        let (a, b): (Arc<str>, Arc<str>) = ("busy".into(), "hello".into());
        let a1 = adm.admit(&a, 1, 2, soon()).await.unwrap();
        let _a2 = adm.admit(&a, 1, 2, soon()).await.unwrap();
        // Both slots are taken: a third `busy` call queues first, `hello` after it.
        let mut a3 = Box::pin(adm.admit(&a, 1, 2, soon()));
        assert!((&mut a3).now_or_never().is_none());
        let mut b1 = Box::pin(adm.admit(&b, 1, 2, soon()));
        assert!((&mut b1).now_or_never().is_none());
        drop(a1);
        // First come, first served would give the slot to `busy` again.
        let b1 = tokio::time::timeout(Duration::from_secs(10), b1)
            .await
            .expect("hello is admitted")
            .unwrap();
        assert!((&mut a3).now_or_never().is_none(), "busy still waits");
        drop(b1);
        tokio::time::timeout(Duration::from_secs(10), a3)
            .await
            .expect("busy is admitted next")
            .unwrap();
    }

    #[tokio::test]
    async fn the_per_function_cap_holds_with_slots_free() {
        let adm = Admission::new(8, 1 << 30);
        let f: Arc<str> = "f".into();
        let _one = adm.admit(&f, 1, 1, soon()).await.unwrap();
        let e = adm
            .admit(&f, 1, 1, Instant::now() + Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!((e.running, e.cap, e.slots_used), (1, 1, 1));
        // Another function is not held back.
        adm.admit(&"g".into(), 1, 1, soon()).await.unwrap();
    }

    #[tokio::test]
    async fn memory_beyond_the_budget_waits_then_is_refused_and_nothing_leaks() {
        let adm = Admission::new(8, 100);
        let f: Arc<str> = "f".into();
        assert!(adm.admit(&f, 101, 8, soon()).await.is_err());
        let big = adm.admit(&f, 60, 8, soon()).await.unwrap();
        let e = adm
            .admit(&f, 60, 8, Instant::now() + Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!((e.bytes_used, e.budget_bytes), (60, 100));
        // A small call behind the refused big one is not blocked by it.
        let small = adm.admit(&f, 40, 8, soon()).await.unwrap();
        drop((big, small));
        let s = adm.state.lock().unwrap();
        assert_eq!((s.free_slots, s.free_bytes), (8, 100));
        assert!(s.waiting.is_empty() && s.running.is_empty());
    }

    /// A call waiting for memory is not overtaken by smaller calls of a busier
    /// function: the memory freed is kept for it, so it runs before its deadline.
    #[tokio::test]
    async fn a_big_call_waiting_for_memory_is_not_starved_by_small_ones() {
        let adm = Admission::new(8, 100);
        let (small, big): (Arc<str>, Arc<str>) = ("small".into(), "big".into());
        let s1 = adm.admit(&small, 60, 8, soon()).await.unwrap();
        let mut b = Box::pin(adm.admit(&big, 100, 8, soon()));
        assert!(
            (&mut b).now_or_never().is_none(),
            "100 does not fit beside 60"
        );
        // 30 would fit beside 60, but `big` waits with fewer running calls: it queues.
        let mut s2 = Box::pin(adm.admit(&small, 30, 8, soon()));
        assert!(
            (&mut s2).now_or_never().is_none(),
            "a small call jumped the queue"
        );
        drop(s1);
        let b = tokio::time::timeout(Duration::from_secs(10), b)
            .await
            .expect("big is admitted once the budget is free")
            .unwrap();
        assert!((&mut s2).now_or_never().is_none(), "small waits for big");
        drop(b);
        tokio::time::timeout(Duration::from_secs(10), s2)
            .await
            .expect("small is admitted after big")
            .unwrap();
        // Once a waiter is gone, nothing stays reserved for it.
        let s = adm.state.lock().unwrap();
        assert!(s.waiting.is_empty());
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_gives_its_place_back() {
        let adm = Admission::new(1, 100);
        let f: Arc<str> = "f".into();
        let first = adm.admit(&f, 10, 1, soon()).await.unwrap();
        let mut gone = Box::pin(adm.admit(&f, 10, 1, soon()));
        assert!((&mut gone).now_or_never().is_none());
        drop(gone);
        drop(first);
        adm.admit(&f, 10, 1, soon()).await.unwrap();
        let s = adm.state.lock().unwrap();
        assert_eq!((s.free_slots, s.free_bytes), (1, 100));
    }
}
