#![allow(clippy::unwrap_used)]
use super::*;

fn show(from: &str, to: &str) {
    assert!(DEFAULT_STACK_YAML.matches(from).count() == 1, "{from}");
    let y = DEFAULT_STACK_YAML.replacen(from, to, 1);
    match parse(&y, Path::new("stack.yaml")) {
        Ok(_) => println!("OK?? {from} -> {to}"),
        Err(e) => { for d in e.diagnostics() { println!("{d}   [{:?}]", d.kind); } }
    }
}

#[test]
fn debug_print() {
    parse(DEFAULT_STACK_YAML, Path::new("stack.yaml")).unwrap();
    show("    cidr_block: 10.0.0.0/16\n", "    cidr_block: 10.0.0.0/16\n    colour: red\n");
    show("      - name: private-b\n", "      - nme: private-b\n");
    show("        target: pets-alb-listener\n      - route_key: GET /health", "        target: pets-alb\n      - route_key: GET /health");
    show("GET /whoami", "GET /whoami/");
    show("GET /pets/{petId}", "GET /{proxy+}/x");
    show("10.0.101.0/24", "10.0.100.128/25");
    show("10.0.101.0/24", "10.1.101.0/24");
    show("10.0.101.0/24", "10.0.101.0/33");
    show("stage_name: $default", "stage_name: dev stage");
    show("port: 443", "port: 70000");
    show("certificates: [example-wildcard]\n", "");
    show("type: forward\n", "type: authenticate-oidc\n");
    show("target_type: ip", "target_type: instance");
    show("account_id: \"000000000000\"", "account_id: 000000000000");
    show("    cidr_block: 10.0.0.0/16\n", "    cidr_block: 10.0.0.0/16\n   bad: [\n");
    show("  - name: pets-link\n", "  - name: pets-alb\n");
}
