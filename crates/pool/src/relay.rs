//! A waker that passes wake-ups on to whichever task polled last, and remembers that it fired.
//!
//! A pooled connection's driver is polled with this waker rather than the task's own, and so is
//! any stream that wraps another state machine the same way (an h2 stream, say). That gives two
//! things the task's waker cannot: the owner may skip the next poll of the inner machine when
//! nothing has woken it since its last `Pending` (it would find what the last poll found, at the
//! cost of a pass through every layer below), and it may mute wake-ups that would only tell the
//! running task about what it is doing itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// See the [module](self) documentation.
#[derive(Debug, Default)]
pub struct Relay {
    task: Mutex<Option<Waker>>,
    woken: AtomicBool,
    muted: AtomicBool,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.muted.load(Ordering::Acquire) {
            return;
        }
        self.woken.store(true, Ordering::Release);
        if let Some(task) = crate::lock(&self.task).as_ref() {
            task.wake_by_ref();
        }
    }
}

impl Relay {
    /// A relay and itself as a waker, made once for the life of what it serves.
    pub fn new() -> (Arc<Relay>, Waker) {
        let relay = Arc::new(Relay::default());
        let waker = Waker::from(relay.clone());
        (relay, waker)
    }

    /// Passes wake-ups on to `task` from now on; `true` if they already went there.
    pub fn follow(&self, task: &Waker) -> bool {
        let mut current = crate::lock(&self.task);
        if current.as_ref().is_some_and(|w| w.will_wake(task)) {
            return true;
        }
        *current = Some(task.clone());
        false
    }

    /// Whether it has fired since the last [`take_woken`](Self::take_woken).
    pub fn woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// Whether it has fired since the last call; call it just before polling what it serves.
    pub fn take_woken(&self) -> bool {
        self.woken.swap(false, Ordering::AcqRel)
    }

    /// Drops wake-ups (neither relayed nor remembered) until unmuted: for the moments the task
    /// itself causes them and will look on its own.
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wake-ups reach the task that polled last, are remembered until taken, and are dropped
    /// while muted.
    #[test]
    fn relays_to_the_last_task_and_remembers() {
        let (relay, waker) = Relay::new();
        let first = Arc::new(Count(AtomicUsize::new(0)));
        let second = Arc::new(Count(AtomicUsize::new(0)));
        assert!(!relay.follow(&Waker::from(first.clone())));
        waker.wake_by_ref();
        assert_eq!(first.0.load(Ordering::SeqCst), 1);
        assert!(relay.woken());
        assert!(relay.take_woken());
        assert!(!relay.take_woken());

        let second_waker = Waker::from(second.clone());
        assert!(!relay.follow(&second_waker));
        assert!(relay.follow(&second_waker), "the same task again");
        relay.set_muted(true);
        waker.wake_by_ref();
        assert!(!relay.woken(), "muted: not remembered");
        assert_eq!(second.0.load(Ordering::SeqCst), 0, "muted: not relayed");
        relay.set_muted(false);
        waker.wake_by_ref();
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        assert_eq!(first.0.load(Ordering::SeqCst), 1, "no longer followed");
    }
}
