//! Email addresses caisse will send to: a deliberately narrow, plain `local@domain.tld` — no quoted
//! local parts, no lists, no address literals, no control or invisible characters — so that what
//! checkout accepts is what the mailer can send, and nothing in it can bend a header.

/// True when `e` is an address caisse accepts for a customer.
pub fn is_plausible(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    e.len() <= 254 && local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_only() {
        for good in [
            "ada@example.com",
            "a.b+tag@mail.example.co.uk",
            "x_y-z@e-x.io",
        ] {
            assert!(is_plausible(good), "{good}");
        }
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@example",
            "ada @example.com",
            "ada@.com",
            "ada@example.com.",
            "a@@example.com",
            "a@example.com;b@example.com",
            "a@example.com,b@example.com",
            "a\"@example.com",
            "a@[127.0.0.1]",
            "a@exa\u{202e}mple.com",
            "a\r\nBcc: x@example.com@example.com",
            "a..b@example.com",
            "a@-example.com",
        ] {
            assert!(!is_plausible(bad), "{bad:?}");
        }
    }
}
