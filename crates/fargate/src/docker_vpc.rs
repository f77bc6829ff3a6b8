//! The Docker network that is a stack's VPC, where `image` tasks run (docs/compose.md).
//!
//! A network of the engine whose subnet is the VPC CIDR is used as it is (Compose's `vpc`
//! network, which airlock's own container stands on). Without one, airlock creates an internal
//! bridge network on the CIDR and removes it at stop. Where neither works (no engine, or the CIDR
//! overlaps a network the engine already has), image tasks publish their ports on 127.0.0.1 as
//! before, and airlock says so once.
//!
//! Every image container carries `airlock.stack=<network name>`, so a later run on the same
//! network removes what an earlier one left behind (a crash, a `kill -9`) before it starts tasks.

use crate::config::DockerEndpoint;
use crate::docker::Docker;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a dropped (never released) `DockerVpc` may take to clean up after itself.
const DROP_CLEANUP_LIMIT: Duration = Duration::from_secs(15);

/// The label naming the stack a container belongs to.
pub const STACK_LABEL: &str = "airlock.stack";

/// Where a stack's `image` containers run; see the module documentation.
#[derive(Debug)]
pub struct DockerVpc {
    docker: Docker,
    /// The network tasks join, if any.
    network: Option<String>,
    /// The `airlock.stack` label's value.
    stack: String,
    /// Whether airlock created the network (and removes it at stop).
    owned: bool,
    /// Whether [`DockerVpc::release`] ran; if not, dropping cleans up instead.
    released: AtomicBool,
}

impl DockerVpc {
    /// Finds or creates the network on `cidr` (e.g. `10.0.0.0/16`) and removes leftovers.
    /// `own_name` is the network airlock creates when the engine has none on the CIDR; make it
    /// unique to this stack (e.g. from its state directory). `images` are the images the tasks
    /// run: when the engine has none of them, nothing could join a network, and none is made.
    /// Never fails: without a network, [`DockerVpc::network`] is `None` and tasks publish on
    /// 127.0.0.1.
    pub async fn prepare(
        endpoint: DockerEndpoint,
        cidr: &str,
        own_name: &str,
        images: &[&str],
    ) -> DockerVpc {
        let docker = Docker::new(endpoint);
        let mut vpc = DockerVpc {
            docker,
            network: None,
            stack: own_name.to_owned(),
            owned: false,
            released: AtomicBool::new(false),
        };
        if let Err(e) = vpc.docker.ping().await {
            // Image tasks report the missing engine themselves, with a hint, when they start.
            tracing::debug!(target: "airlock::ecs", error = %e, "no Docker engine for the VPC network");
            return vpc;
        }
        let found = match vpc.docker.networks().await {
            Ok(nets) => nets
                .into_iter()
                .find(|n| n.subnets.iter().any(|s| s == cidr))
                .map(|n| n.name),
            Err(e) => {
                tracing::warn!(target: "airlock::ecs", error = %e, "listing Docker networks");
                None
            }
        };
        if let Some(name) = &found {
            vpc.owned = name == own_name;
            vpc.stack = name.clone();
        }
        match vpc
            .docker
            .remove_labelled(&format!("{STACK_LABEL}={}", vpc.stack))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(target: "airlock::ecs", stack = %vpc.stack, "removed {n} container(s) an earlier run left behind")
            }
            Err(e) => {
                tracing::warn!(target: "airlock::ecs", error = %e, "removing containers an earlier run left behind")
            }
        }
        let mut any_image = images.is_empty();
        for image in images {
            any_image |= vpc.docker.has_image(image).await.unwrap_or(false);
        }
        match found {
            Some(name) => vpc.network = Some(name),
            // Their tasks stop with CannotPullContainerError; no network is left behind for them.
            None if !any_image => {}
            None => match vpc
                .docker
                .create_network(own_name, cidr, json!({ STACK_LABEL: own_name }))
                .await
            {
                Ok(()) => {
                    vpc.network = Some(own_name.to_owned());
                    vpc.owned = true;
                }
                Err(e) => tracing::warn!(
                    target: "airlock::ecs",
                    "image tasks publish their ports on 127.0.0.1 instead of holding their private addresses: cannot create the Docker network {own_name} on the VPC CIDR {cidr}: {e} (docs/compose.md)"
                ),
            },
        }
        if let Some(name) = &vpc.network {
            tracing::info!(target: "airlock::ecs", network = %name, created = vpc.owned, "image tasks run on the Docker network of the VPC, at their private addresses");
        }
        vpc
    }

    /// The network image tasks join, if any.
    pub fn network(&self) -> Option<&str> {
        self.network.as_deref()
    }

    /// The labels every image container of the stack carries.
    pub fn labels(&self) -> Vec<(String, String)> {
        vec![(STACK_LABEL.to_owned(), self.stack.clone())]
    }

    /// At the stack's stop, once its tasks stopped: removes any container of the stack still
    /// there (a task that outlived the grace period; it would also keep the network, airlock's
    /// or Compose's, from being removed), then the network if airlock created it.
    pub async fn release(&self) {
        self.released.store(true, Ordering::Relaxed);
        if self.network.is_none() && self.docker.ping().await.is_err() {
            return;
        }
        if let Err(e) = self
            .docker
            .remove_labelled(&format!("{STACK_LABEL}={}", self.stack))
            .await
        {
            tracing::warn!(target: "airlock::ecs", error = %e, "removing the stack's containers");
        }
        let Some(name) = self.network.as_deref().filter(|_| self.owned) else {
            return;
        };
        if let Err(e) = self.docker.remove_network(name).await {
            tracing::warn!(target: "airlock::ecs", error = %e, network = %name, "removing the VPC's Docker network");
        }
    }
}

impl Drop for DockerVpc {
    /// A stack dropped without its `stop` (a test's, or a panic's) still removes its containers
    /// and the network it made: on a thread of its own, with a runtime of its own, since the
    /// caller's may be shutting down. Bounded, so a stuck engine cannot hang the drop.
    fn drop(&mut self) {
        if self.released.load(Ordering::Relaxed) || (self.network.is_none() && !self.owned) {
            // Published containers of a dropped stack are removed by the next start instead.
            return;
        }
        let vpc = DockerVpc {
            docker: self.docker.clone(),
            network: self.network.take(),
            stack: self.stack.clone(),
            owned: self.owned,
            released: AtomicBool::new(true),
        };
        let cleanup = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(DROP_CLEANUP_LIMIT, vpc.release()).await;
                });
            }
        });
        let _ = cleanup.join();
    }
}
