//! The README's Webhooks section names every event type caisse acts on: an endpoint registered
//! by hand from that list is one `caisse doctor` accepts and that brings disputes and failed
//! refunds to the dashboard.

#[test]
fn the_readme_names_every_event_type_to_register() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Webhooks\n"))
        .expect("a Webhooks section in the README");
    let registering = section
        .split("\n\n")
        .find(|p| p.contains("caisse stripe setup"))
        .expect("the paragraph on registering the endpoint");
    for kind in caisse_shop::webhooks::HANDLED {
        assert!(
            registering.contains(&format!("`{kind}`")),
            "{kind} is missing from the README's list of event types to register"
        );
    }
}
