//! Where the dashboard's password checks run: a few threads of their own, one check each at a
//! time, behind permits that a sign-in waits for briefly.
//!
//! An argon2id check needs its memory cost (19 MiB by default). Allocated per check, even two at a
//! time, the allocator's arenas fragment: 200 wrong sign-ins from 50 networks took the process past
//! 400 MB on Tokio's blocking pool, and 200 MB on two threads. So each of the `n` threads keeps
//! one block of memory and hashes into it ([`Argon2::hash_password_into_with_memory`]): sign-in
//! memory is `n` times the hash's cost, whatever the burst. The permits (as many as threads) bound
//! the queue: the next sign-in waits, or is told to come back.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{oneshot, Semaphore};

use crate::secret::Secret;

struct Job {
    phc: Secret,
    password: String,
    answer: oneshot::Sender<bool>,
}

/// The process's password checkers (`CAISSE_ADMIN_MAX_CONCURRENT_SIGNINS` threads).
pub struct PasswordChecks {
    jobs: mpsc::SyncSender<Job>,
    permits: Arc<Semaphore>,
}

/// No checker became free within the wait.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl PasswordChecks {
    /// Starts `threads` checkers; they end when this is dropped.
    pub fn start(threads: usize) -> std::io::Result<PasswordChecks> {
        let (jobs, incoming) = mpsc::sync_channel::<Job>(threads);
        let incoming = Arc::new(std::sync::Mutex::new(incoming));
        for i in 0..threads {
            let incoming = incoming.clone();
            std::thread::Builder::new()
                .name(format!("caisse-password-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = match incoming.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let good = verify_in(&mut memory, job.phc.expose(), &job.password);
                        let _ = job.answer.send(good);
                    }
                })?;
        }
        Ok(PasswordChecks {
            jobs,
            permits: Arc::new(Semaphore::new(threads)),
        })
    }

    /// Whether `password` matches `phc`, once a checker is free within `wait`.
    pub async fn verify(
        &self,
        phc: Secret,
        password: String,
        wait: Duration,
    ) -> Result<bool, Busy> {
        let Ok(Ok(_permit)) = tokio::time::timeout(wait, self.permits.acquire()).await else {
            return Err(Busy);
        };
        let (answer, result) = oneshot::channel();
        // With a permit there is room: at most as many jobs as threads are queued or running
        // (a sign-in whose client left frees its permit; its job still ends on its thread).
        self.jobs
            .try_send(Job {
                phc,
                password,
                answer,
            })
            .map_err(|_| Busy)?;
        Ok(result.await.unwrap_or(false))
    }
}

/// What `admin::verify_password` answers, hashing into `memory` (grown to the hash's cost, then kept).
fn verify_in(memory: &mut Vec<Block>, phc: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
        Algorithm::try_from(hash.algorithm),
        Params::try_from(&hash),
        hash.hash,
        hash.salt,
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_memory_checks_like_the_crate() {
        let phc = crate::admin::hash_password("correct horse").unwrap();
        let mut memory = Vec::new();
        assert!(verify_in(&mut memory, &phc, "correct horse"));
        assert!(!verify_in(&mut memory, &phc, "correct horse "));
        assert!(
            verify_in(&mut memory, &phc, "correct horse"),
            "memory reused"
        );
        assert!(!verify_in(&mut memory, "garbage", "correct horse"));
    }
}
