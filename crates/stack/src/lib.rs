//! airlock-stack (placeholder, being written).
