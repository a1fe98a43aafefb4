//! `docs/target-yaml.md` holds exactly the reference generated from the schema table.
//! `LIFCHIP_BLESS=1 cargo test -p lifchip-target` rewrites it.

use std::path::Path;

const BEGIN: &str = "<!-- BEGIN GENERATED -->";
const END: &str = "<!-- END GENERATED -->";

#[test]
fn target_yaml_doc_holds_the_generated_reference() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/target-yaml.md");
    let text = std::fs::read_to_string(&path).expect("docs/target-yaml.md exists");
    let start = text.find(BEGIN).expect("BEGIN marker") + BEGIN.len();
    let end = start + text[start..].find(END).expect("END marker after BEGIN");
    let want = format!("\n{}", lifchip_target::schema_markdown());
    if std::env::var("LIFCHIP_BLESS").as_deref() == Ok("1") {
        let blessed = format!("{}{want}{}", &text[..start], &text[end..]);
        std::fs::write(&path, blessed).expect("write docs/target-yaml.md");
        return;
    }
    assert!(
        text[start..end] == want,
        "docs/target-yaml.md is out of date with the schema table; run \
         `LIFCHIP_BLESS=1 cargo test -p lifchip-target` and review the diff"
    );
}
