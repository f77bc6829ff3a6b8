//! The synthetic route table of the route-selection allocation test and the route-matching
//! benchmark (the bench includes this file by path).

use airlock_gateway::RouteKey;

/// `n` routes of every shape (full, with a variable, with a variable then a literal, greedy),
/// methods cycling through `GET`, `POST` and `ANY`, then `$default` (index `n`).
pub fn table(n: usize) -> Vec<RouteKey> {
    let mut routes: Vec<RouteKey> = (0..n)
        .map(|i| {
            let method = ["GET", "POST", "ANY"][i % 3];
            let path = match i % 4 {
                0 => format!("/r{i}"),
                1 => format!("/r{i}/{{id}}"),
                2 => format!("/r{i}/{{id}}/items"),
                _ => format!("/r{i}/{{proxy+}}"),
            };
            format!("{method} {path}")
                .parse()
                .expect("the table's keys are well formed")
        })
        .collect();
    routes.push(RouteKey::Default);
    routes
}
