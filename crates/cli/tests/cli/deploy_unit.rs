//! `deploy/caisse.service` is a unit systemd accepts: `systemd-analyze verify` finds nothing to
//! say about it (an unknown option or a bad value is only a warning there, so any output fails the
//! test), and it keeps what the README promises: a dedicated user, a restart on failure, a raised
//! file-descriptor limit, the sandboxing options.

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_and_keeps_its_promises() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/caisse.service");
    let unit = std::fs::read_to_string(path).expect("deploy/caisse.service");
    for line in [
        "User=caisse",
        "ExecStart=/usr/local/bin/caisse serve",
        "Restart=on-failure",
        "LimitNOFILE=65536",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit says {line}");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed; the unit was not verified");
        return;
    }
    // verify wants ExecStart's program to exist: the binary under test stands in for the installed
    // one, at the same place in the same line.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("caisse.service");
    let binary = env!("CARGO_BIN_EXE_caisse");
    std::fs::write(&copy, unit.replace("/usr/local/bin/caisse", binary)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert_eq!(said.trim(), "", "no warning either");
}
