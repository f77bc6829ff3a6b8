//! airlock-alb (placeholder, being written).
