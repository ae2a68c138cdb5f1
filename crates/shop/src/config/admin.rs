//! The dashboard's password: an argon2id hash whose costs a sign-in can afford. The check lives
//! here rather than in the dashboard's `admin` service (which re-exports it), so that the
//! configuration depends on no service.

use argon2::password_hash::PasswordHash;

use super::reader::Reader;
use super::settings::{ADMIN_MAX_CONCURRENT_SIGNINS, ADMIN_PASSWORD_HASH};
use crate::secret::Secret;

/// Why a configured hash cannot be used, in a sentence that never repeats it.
pub fn check_hash(phc: &str) -> Result<(), &'static str> {
    let parsed = PasswordHash::new(phc)
        .map_err(|_| "is not a PHC string; make one with `caisse admin hash-password`")?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err("must be an argon2id hash; make one with `caisse admin hash-password`");
    }
    // Costs decide what a sign-in takes: too low and the hash is cheap to crack, too high and
    // one sign-in (anyone's, before the password is known to be wrong) takes the server's memory.
    let params = argon2::Params::try_from(&parsed).map_err(|_| {
        "has argon2 parameters that cannot work; make one with `caisse admin hash-password`"
    })?;
    if !(8 * 1024..=256 * 1024).contains(&params.m_cost())
        || !(1..=10).contains(&params.t_cost())
        || !(1..=8).contains(&params.p_cost())
    {
        return Err("must cost 8 to 256 MiB of memory, 1 to 10 passes and 1 to 8 lanes (caisse admin hash-password makes 19 MiB, 2, 1)");
    }
    if parsed.hash.is_none() {
        return Err("has no hash part; make one with `caisse admin hash-password`");
    }
    Ok(())
}

/// The dashboard's password hash; `None`: no dashboard.
pub(super) fn password_hash(r: &mut Reader<'_>) -> Option<Secret> {
    let hash = r.text(ADMIN_PASSWORD_HASH);
    if !hash.is_empty() {
        if let Err(why) = check_hash(&hash) {
            r.fail(ADMIN_PASSWORD_HASH, why);
        }
    }
    (!hash.is_empty()).then(|| Secret::new(hash))
}

/// How many password checks may run at once: each holds the hash's memory cost (19 MiB by
/// default) while it runs, so this, not the number of clients, bounds sign-in's memory.
pub(super) fn max_concurrent_signins(r: &mut Reader<'_>) -> usize {
    let n = r.number::<usize>(ADMIN_MAX_CONCURRENT_SIGNINS);
    if !(1..=64).contains(&n) {
        r.fail(ADMIN_MAX_CONCURRENT_SIGNINS, "must be 1 to 64");
    }
    n
}
