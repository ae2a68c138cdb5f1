//! The README's Next.js route handler compiles: its `ts` block is type-checked by TypeScript
//! (`tsc --strict`, with Node's types, as a Next.js app on the Node.js runtime has them), installed
//! from npm into the target directory once.

use std::path::{Path, PathBuf};
use std::process::Command;

const TYPESCRIPT: &str = "typescript@5.9.3";
const NODE_TYPES: &str = "@types/node@20";

fn tsc() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("typescript-5.9.3");
    let done = dir.join("installed.ok");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for TypeScript");
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .args([TYPESCRIPT, NODE_TYPES])
            .status()
            .ok()?;
        assert!(
            status.success(),
            "npm install {TYPESCRIPT} {NODE_TYPES} failed"
        );
        std::fs::write(&done, TYPESCRIPT).expect("mark the install complete");
    }
    Some(dir.join("node_modules/.bin/tsc"))
}

/// The README's `ts` block of the route handler (`// app/api/checkout/route.ts`).
fn route_handler() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let blocks: Vec<&str> = readme
        .split("```ts\n")
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap())
        .filter(|block| block.starts_with("// app/api/checkout/route.ts"))
        .collect();
    assert_eq!(blocks.len(), 1, "one route handler in the README");
    assert!(blocks[0].contains("export async function POST"));
    blocks[0].to_string()
}

#[test]
fn the_readme_route_handler_compiles() {
    let code = route_handler();
    let Some(tsc) = tsc() else {
        eprintln!("SKIPPED: npm is not installed; the README's route handler was not compiled");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("route.ts"), code).unwrap();
    let types = tsc.parent().unwrap().parent().unwrap().join("@types");
    let out = Command::new(&tsc)
        .current_dir(dir.path())
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom,dom.iterable",
            "--types",
            "node",
            "--typeRoots",
        ])
        .arg(&types)
        .arg("route.ts")
        .output()
        .expect("run tsc");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
