//! `caisse admin add-user|list-users|totp|remove-user` from outside, and the operator they make
//! signing in to `caisse serve` (no CAISSE_ADMIN_PASSWORD_HASH needed).

use std::io::Write;
use std::process::Stdio;

use crate::support::{caisse, free_port, run, serve, serve_command, text, wait_for, Running};

const PW: &str = "staff's own passphrase";

/// `caisse ARGS` on the SQLite file in `dir`, with `stdin` piped in.
fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let db = format!("sqlite://{}", dir.join("caisse.db").display());
    let mut child = caisse(dir, args, &[("DATABASE_URL", &db)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command refused on its arguments (clap's exit 2) ends before it reads its input.
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

/// A sign-in POST with the double-submitted form token, from a client that does not follow the
/// redirect.
async fn sign_in(base: &str, fields: &[(&str, &str)]) -> u16 {
    let mut form = vec![("csrf", "double-submitted")];
    form.extend_from_slice(fields);
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/admin/login"))
        .header("cookie", "caisse_admin_login=double-submitted")
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_operator_added_from_the_command_line_signs_in_with_a_code_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let add = ["admin", "add-user", "staff@shop.example", "--role", "staff"];
    let short = admin(dir.path(), &add, "too short\n");
    assert_ne!(short.status.code(), Some(0));
    assert!(
        text(&short).1.contains("at least 12 characters"),
        "{:?}",
        text(&short)
    );
    let bad_role = admin(
        dir.path(),
        &["admin", "add-user", "x@shop.example", "--role", "boss"],
        &format!("{PW}\n"),
    );
    assert_eq!(bad_role.status.code(), Some(2), "clap refuses the role");

    let added = admin(dir.path(), &add, &format!("{PW}\n"));
    let (stdout, stderr) = text(&added);
    assert_eq!(added.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("staff@shop.example can sign in to the dashboard as staff"),
        "{stdout}"
    );
    assert!(
        !format!("{stdout}{stderr}").contains(PW),
        "the password is never echoed"
    );
    let twice = admin(dir.path(), &add, &format!("{PW}\n"));
    assert_ne!(twice.status.code(), Some(0));
    assert!(text(&twice).1.contains("already an operator"));

    let list = admin(dir.path(), &["admin", "list-users"], "");
    assert_eq!(text(&list).0, "staff@shop.example\tstaff\tpassword only\n");
    let totp = admin(dir.path(), &["admin", "totp", "staff@shop.example"], "");
    let (uri, _) = text(&totp);
    assert_eq!(totp.status.code(), Some(0));
    assert!(
        uri.starts_with("otpauth://totp/caisse:staff%40shop.example?secret="),
        "{uri}"
    );
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = caisse_shop::domain::totp::from_base32(secret).unwrap();
    assert!(text(&admin(dir.path(), &["admin", "list-users"], ""))
        .0
        .contains("\ttotp"));
    let unknown = admin(dir.path(), &["admin", "totp", "nobody@shop.example"], "");
    assert_ne!(unknown.status.code(), Some(0));

    // No CAISSE_ADMIN_PASSWORD_HASH: the named operator is what makes the dashboard, and serve's
    // banner says so (it said "none yet: 404").
    let banner = {
        use std::io::BufRead;
        let mut child = Running(
            serve_command(
                dir.path(),
                free_port(),
                "http://127.0.0.1:9",
                &[("CAISSE_MAIL", "off")],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        );
        let out = std::io::BufReader::new(child.0.stdout.take().unwrap());
        let line = out
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("dashboard"));
        line.unwrap_or_default()
    };
    assert!(
        banner.ends_with("/admin  for the 1 operator(s) of caisse admin add-user"),
        "{banner}"
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = serve(
        dir.path(),
        port,
        "http://127.0.0.1:9",
        &[("CAISSE_MAIL", "off")],
    );
    wait_for(&format!("{base}/healthz")).await;
    let with = [("email", "staff@shop.example"), ("password", PW)];
    assert_eq!(sign_in(&base, &with).await, 401, "the code is required");
    let code = caisse_shop::domain::totp::code(
        &secret,
        caisse_shop::domain::totp::step_at(caisse_shop::store::unix_now()),
    );
    let mut with_code = with.to_vec();
    with_code.push(("code", &code));
    assert_eq!(sign_in(&base, &with_code).await, 303);

    let removed = run(
        dir.path(),
        &["admin", "remove-user", "staff@shop.example"],
        &[(
            "DATABASE_URL",
            &format!("sqlite://{}", dir.path().join("caisse.db").display()),
        )],
    );
    assert_eq!(removed.status.code(), Some(0), "{:?}", text(&removed));
    let page = reqwest::get(format!("{base}/admin/login")).await.unwrap();
    assert_eq!(
        page.status(),
        404,
        "no operator left, no hash: no dashboard"
    );
    drop(server);
}
