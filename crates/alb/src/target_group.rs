//! Target groups: a name and a live set of private target addresses (§3).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::watch;

/// A target group handle: its name and the targets the task runner currently publishes.
///
/// Cheap to clone; clones share the round-robin position, so every rule that forwards to the
/// group rotates over one sequence, as AWS does per target group (§3.5).
#[derive(Clone)]
pub struct TargetGroup(Arc<Inner>);

struct Inner {
    name: String,
    targets: watch::Receiver<Vec<SocketAddr>>,
    next: AtomicUsize,
}

impl TargetGroup {
    /// A group whose targets are the private `ip:port` addresses last sent on `targets`.
    pub fn new(name: impl Into<String>, targets: watch::Receiver<Vec<SocketAddr>>) -> Self {
        TargetGroup(Arc::new(Inner {
            name: name.into(),
            targets,
            next: AtomicUsize::new(0),
        }))
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Round robin over the current targets; `None` when the group has none (§2.6: 503).
    ///
    /// Reads the latest published set in place, without copying it.
    pub fn pick(&self) -> Option<SocketAddr> {
        let targets = self.0.targets.borrow();
        if targets.is_empty() {
            return None;
        }
        let n = self.0.next.fetch_add(1, Ordering::Relaxed);
        targets.get(n % targets.len()).copied()
    }
}

impl fmt::Debug for TargetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetGroup")
            .field("name", &self.0.name)
            .field("targets", &*self.0.targets.borrow())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_follows_the_live_set() {
        let a: SocketAddr = "10.0.100.10:8080".parse().unwrap();
        let b: SocketAddr = "10.0.101.10:8080".parse().unwrap();
        let (tx, rx) = watch::channel(vec![]);
        let tg = TargetGroup::new("pets-tg", rx);
        assert_eq!(tg.pick(), None);
        tx.send(vec![a, b]).unwrap();
        let picks: Vec<_> = (0..4).map(|_| tg.pick().unwrap()).collect();
        assert_eq!(picks, [a, b, a, b]);
        tx.send(vec![b]).unwrap();
        assert_eq!(tg.pick(), Some(b));
    }
}
