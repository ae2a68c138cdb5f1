//! `caisse dev`: everything locally with no setup — SQLite in a data directory, the demo catalog,
//! the Stripe sandbox with caisse's webhook endpoint registered through its API, the storefront
//! and the dashboard — and the values it fills in, which `caisse config check --for dev` shows.
//!
//! Listening on every interface (`--listen 0.0.0.0:8080`, in a container or a VM), the addresses
//! handed out must be ones the host's browser reaches: caisse's public URL is `--public-url`
//! (default `http://localhost:{port}`), and the sandbox listens on every interface too, on the
//! next port (8081 beside 8080, so that both can be published), its payment pages on the public
//! URL's host.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use caisse_shop::catalog;
use caisse_shop::config::{self, DevKeys, Mode, Source};
use caisse_shop::App;

use super::{bind, init_logs, load, open_store, run, Result};
use caisse_shop::store::Missing;

/// Where caisse and its sandbox are reached from a browser.
pub(super) struct DevAddresses {
    /// caisse's `CAISSE_PUBLIC_URL`, when the listen address is not one to hand out.
    pub public_url: Option<String>,
    /// Where the sandbox binds.
    pub sandbox_listen: SocketAddr,
    /// The base of the sandbox's payment pages, when not its bound address.
    pub sandbox_public: Option<String>,
}

/// The addresses of a dev run listening on `addr` (bound), with the `--public-url` asked for.
pub(super) fn addresses(
    addr: SocketAddr,
    public_url: Option<&str>,
) -> anyhow::Result<DevAddresses> {
    let everywhere = addr.ip().is_unspecified();
    let public_url = match public_url {
        Some(url) => Some(url.trim_end_matches('/').to_string()),
        None if everywhere => Some(format!("http://localhost:{}", addr.port())),
        None => None,
    };
    if !everywhere {
        // Loopback or one interface: the sandbox beside caisse, on a port of its own, reached
        // at the address it is bound to.
        return Ok(DevAddresses {
            public_url,
            sandbox_listen: SocketAddr::new(addr.ip(), 0),
            sandbox_public: None,
        });
    }
    let port = addr
        .port()
        .checked_add(1)
        .context("--listen's port leaves no room for the sandbox's (the next one)")?;
    let host = url_host(public_url.as_deref().unwrap_or("http://localhost"))?;
    Ok(DevAddresses {
        public_url,
        sandbox_listen: SocketAddr::new(addr.ip(), port),
        sandbox_public: Some(format!("{host}:{port}")),
    })
}

/// `scheme://host` of a URL, for the sandbox's pages on the same host.
fn url_host(url: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "http" | "https"))
        .context("--public-url must be an http(s) URL such as http://localhost:8080")?;
    let authority = rest.split('/').next().unwrap_or_default();
    // Without the port: `[::1]:8080` keeps its brackets, `localhost:8080` loses `:8080`.
    let host = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    Ok(format!("{scheme}://{host}"))
}

/// What `caisse dev` sets where the environment does not: its listen address and public URL, the
/// database in the data directory, the sandbox as Stripe, a dashboard password for this run
/// (returned), and emails as files. Each is shown as coming from `caisse dev`.
pub(super) fn dev_settings(
    s: &mut Source,
    listen: &str,
    public_url: Option<&str>,
    data_dir: &Path,
    sandbox_url: &str,
) -> Option<String> {
    s.set_by_dev(config::LISTEN, listen);
    // Always on in dev, whatever the setting says: shown as dev's.
    s.set_by_dev(config::STOREFRONT, "true");
    if let Some(url) = public_url.filter(|_| std::env::var_os(config::PUBLIC_URL).is_none()) {
        s.set_by_dev(config::PUBLIC_URL, url);
    }
    if std::env::var_os(config::DATABASE_URL).is_none() {
        let database = format!("sqlite://{}", data_dir.join("caisse.db").display());
        s.set_by_dev(config::DATABASE_URL, &database);
    }
    if std::env::var_os(config::API_BASE).is_none() {
        s.set_by_dev(config::API_BASE, sandbox_url);
    }
    if std::env::var_os(config::SMTP_URL).is_none() && std::env::var_os(config::MAIL_DIR).is_none()
    {
        s.set_by_dev(
            config::MAIL_DIR,
            &data_dir.join("mail").display().to_string(),
        );
    }
    if s.get_raw(config::ADMIN_PASSWORD_HASH).is_some() {
        return None;
    }
    let password = caisse_shop::admin::random_token()[..16].to_string();
    let hash = caisse_shop::admin::hash_password(&password).ok()?;
    s.set_by_dev(config::ADMIN_PASSWORD_HASH, &hash);
    Some(password)
}

pub async fn dev(
    file: Option<&Path>,
    listen: &str,
    public_url: Option<&str>,
    data_dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let addr: SocketAddr = listen
        .parse()
        .context("--listen must be an address such as 127.0.0.1:8080")?;
    let listener = bind(addr).await?;
    let addr = listener.local_addr().context("no local address")?;
    let at = addresses(addr, public_url)?;
    let mut keys = DevKeys::generate();
    let sandbox = caisse_sandbox::start(caisse_sandbox::SandboxOptions {
        listen: at.sandbox_listen,
        public_url: at.sandbox_public,
        api_version: caisse_stripe::API_VERSION.into(),
        ..Default::default()
    })
    .await
    .with_context(|| format!("cannot start the Stripe sandbox on {}", at.sandbox_listen))?;
    // caisse and the sandbox talk to each other on this machine, whatever the browser's address.
    let local = |a: SocketAddr| {
        let ip = if a.ip().is_unspecified() {
            [127, 0, 0, 1].into()
        } else {
            a.ip()
        };
        SocketAddr::new(ip, a.port())
    };
    let sandbox_url = format!("http://{}", local(sandbox.addr));
    // caisse's endpoint, registered as `caisse stripe setup` registers it with Stripe: its events
    // in the version caisse reads, signed with the secret the sandbox made for it.
    let endpoint = caisse_stripe::Client::new(caisse_stripe::ClientOptions::new(
        &sandbox_url,
        &keys.secret_key,
    ))
    .map_err(anyhow::Error::from)?
    .create_webhook_endpoint(
        &format!("http://{}/api/webhooks/stripe", local(addr)),
        caisse_shop::webhooks::HANDLED,
        caisse_stripe::API_VERSION,
        "caisse dev",
    )
    .await
    .context("the sandbox refused caisse's webhook endpoint")?;
    keys.webhook_secret = endpoint
        .secret
        .context("the sandbox sent no signing secret")?;
    let mut admin_password = None;
    let config = load(
        file,
        Mode::Dev,
        |s| {
            admin_password = dev_settings(
                s,
                &addr.to_string(),
                at.public_url.as_deref(),
                data_dir,
                &sandbox_url,
            )
        },
        Some(&keys),
    )?;
    init_logs(config.log_format);
    let store = open_store(&config, Missing::Create).await?;
    if catalog::load_demo_if_empty(&store, caisse_shop::store::unix_now())
        .await
        .map_err(anyhow::Error::from)?
    {
        tracing::info!("loaded the demo catalog");
    }
    // The sandbox takes any test key: the hint needs no secret of this run.
    let lines = [
        format!("  public     {} (payment pages on {})", config.public_url, sandbox.url()),
        format!("  sandbox    {sandbox_url} (Stripe emulator; webhooks signed and sent to caisse)"),
        format!(
            "  replay     STRIPE_SECRET_KEY=sk_test_replay STRIPE_API_BASE={sandbox_url} DATABASE_URL={} caisse events replay --since 1h",
            caisse_shop::secret::redact_url(config.database_url.expose())
        ),
    ];
    run(App::new(config, store)?, listener, &lines, admin_password).await?;
    sandbox.stop().await.context("sandbox stopped badly")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interface_hands_out_the_host_s_addresses() {
        let a = addresses("0.0.0.0:8080".parse().unwrap(), None).unwrap();
        assert_eq!(a.public_url.as_deref(), Some("http://localhost:8080"));
        assert_eq!(a.sandbox_listen, "0.0.0.0:8081".parse().unwrap());
        assert_eq!(a.sandbox_public.as_deref(), Some("http://localhost:8081"));
        let a = addresses(
            "0.0.0.0:8080".parse().unwrap(),
            Some("http://192.0.2.7:8080/"),
        )
        .unwrap();
        assert_eq!(a.public_url.as_deref(), Some("http://192.0.2.7:8080"));
        assert_eq!(a.sandbox_public.as_deref(), Some("http://192.0.2.7:8081"));
        let a = addresses("127.0.0.1:8080".parse().unwrap(), None).unwrap();
        assert_eq!((a.public_url, a.sandbox_public), (None, None));
        assert_eq!(a.sandbox_listen, "127.0.0.1:0".parse().unwrap());
        let a = addresses("[::]:8080".parse().unwrap(), Some("http://[::1]:9000")).unwrap();
        assert_eq!(a.sandbox_public.as_deref(), Some("http://[::1]:8081"));
        assert!(addresses("0.0.0.0:8080".parse().unwrap(), Some("localhost:8080")).is_err());
    }
}
