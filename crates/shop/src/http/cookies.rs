//! The one reader of `Cookie` request headers, for the dashboard's session and sign-in cookies
//! and the guest cookie alike.

use axum::http::{header, HeaderMap};

/// Every value of cookie `name`, in the order the request sent them, from all its `Cookie`
/// headers. A pair is `name=value` with the spaces around it trimmed; the name must match
/// exactly. The caller picks: the dashboard takes the first, the guest identity the first that
/// verifies.
pub(crate) fn cookie_values<'a>(
    headers: &'a HeaderMap,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn every_value_of_a_name_in_order_across_headers() {
        let h = headers(&["theme=dark; a=1", " a=2 ;b=x=y", "a=3;ab=4; a =5"]);
        assert_eq!(cookie_values(&h, "a").collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(cookie_values(&h, "b").collect::<Vec<_>>(), ["x=y"]);
        assert_eq!(cookie_values(&h, "c").next(), None);
        assert_eq!(cookie_values(&HeaderMap::new(), "a").next(), None);
    }
}
