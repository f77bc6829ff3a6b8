//! Tests of the network, load balancing and ECS translation (`ec2`, `elb`, `ecs`).
