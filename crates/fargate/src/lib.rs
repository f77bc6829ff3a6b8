//! airlock-fargate (placeholder, being written).
