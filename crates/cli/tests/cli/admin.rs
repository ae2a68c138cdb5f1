//! `caisse admin hash-password` and the dashboard's settings, from outside.

use std::io::Write;
use std::process::Stdio;

use crate::support::{caisse, run, text, GUEST, SK, WH};

fn hash_password(stdin: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = caisse(dir.path(), &["admin", "hash-password"], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn hash_password_reads_standard_input_and_prints_an_argon2id_hash_that_serve_accepts() {
    let out = hash_password("correct horse battery staple\n");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let hash = stdout.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!stdout.contains("correct horse"));
    assert!(caisse_shop::admin::verify_password(
        hash,
        "correct horse battery staple"
    ));
    assert!(!caisse_shop::admin::verify_password(
        hash,
        "correct horse battery staple\n"
    ));

    let dir = tempfile::tempdir().unwrap();
    let base = [
        ("STRIPE_SECRET_KEY", SK),
        ("STRIPE_WEBHOOK_SECRET", WH),
        ("CAISSE_MAIL", "off"),
        ("CAISSE_GUEST_COOKIE_SECRET", GUEST),
    ];
    let mut with_hash = base.to_vec();
    with_hash.push(("CAISSE_ADMIN_PASSWORD_HASH", hash));
    let ok = run(dir.path(), &["config", "check"], &with_hash);
    let (stdout, _) = text(&ok);
    assert_eq!(ok.status.code(), Some(0));
    assert!(!stdout.contains(hash), "the hash is masked like a secret");

    let mut broken = base.to_vec();
    broken.push(("CAISSE_ADMIN_PASSWORD_HASH", "hunter2-in-clear"));
    let bad = run(dir.path(), &["config", "check"], &broken);
    let (stdout, stderr) = text(&bad);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr.contains("CAISSE_ADMIN_PASSWORD_HASH"), "{stderr}");
    assert!(!format!("{stdout}{stderr}").contains("hunter2"));
}

#[test]
fn hash_password_takes_no_argument_and_refuses_a_short_password() {
    let dir = tempfile::tempdir().unwrap();
    let argument = run(
        dir.path(),
        &["admin", "hash-password", "correct horse battery staple"],
        &[],
    );
    assert_eq!(
        argument.status.code(),
        Some(2),
        "a password in argv is refused"
    );
    let (stdout, stderr) = text(&argument);
    assert!(
        !format!("{stdout}{stderr}").contains("correct horse"),
        "and not echoed: {stderr}"
    );
    let short = hash_password("short\n");
    assert_ne!(short.status.code(), Some(0));
    assert!(text(&short).0.is_empty());
    let empty = hash_password("");
    assert_ne!(empty.status.code(), Some(0));
    let two_lines = hash_password("correct horse battery staple\nand a second line\n");
    assert_ne!(
        two_lines.status.code(),
        Some(0),
        "a pasted block is refused"
    );
    assert!(text(&two_lines).0.is_empty());
}
