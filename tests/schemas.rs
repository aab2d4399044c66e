//! The JSON Schemas committed under `schemas/` are the ones the Rust types
//! generate: the stored and bundled components, the bundle manifest, the
//! journal, snapshots and the history. Here rather than in `component`,
//! since the manifest and the appliance's records live in the modules
//! above it.

use std::path::Path;

use tacctl::component::{schema_file, schemas};

#[test]
fn committed_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let update = std::env::var_os("TACCTL_UPDATE_SCHEMAS").is_some();
    let mut all = schemas();
    all.push(schema_file::<tacctl::bundle::manifest::Manifest>(
        "bundle-manifest",
    ));
    all.push(schema_file::<tacctl::appliance::Journal>("journal"));
    all.push(schema_file::<tacctl::appliance::SnapshotMeta>("snapshot"));
    all.push(schema_file::<tacctl::appliance::History>("history"));
    for (name, json) in all {
        let path = dir.join(&name);
        if update {
            std::fs::write(&path, &json).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == json,
            "schemas/{name} has drifted from the Rust types; regenerate with TACCTL_UPDATE_SCHEMAS=1 cargo test --test schemas"
        );
    }
}
