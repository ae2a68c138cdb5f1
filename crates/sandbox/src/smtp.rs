//! A small SMTP server for tests and local runs: it speaks enough of RFC 5321 for a real client
//! (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps what it accepts. Its behaviour can be
//! made hostile on purpose — refuse the next messages with a temporary (4xx) or permanent (5xx)
//! reply, stall after `DATA` without ever answering, or answer late for some recipients — to test
//! what a mailer does about it. It notes when it received each message and when it answered, so
//! that a test can tell which messages were in flight at a given moment (a crash of the sender).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
}

/// What the server does with the next messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    #[default]
    Accept,
    /// Answer `RCPT` with this 4xx or 5xx reply for the next `n` messages.
    Refuse { code: u16, n: u32 },
    /// Read the message, then never answer the end of `DATA`.
    Stall,
    /// Keep (and count as received) every message, but answer the end of `DATA` only after
    /// `delay` when a recipient's address contains `recipient`; the others at once.
    SlowFor { recipient: String, delay: Duration },
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    /// For each of `mails`: when its `DATA` ended, and when it was answered (if it was).
    times: Vec<(Instant, Option<Instant>)>,
    behaviour: Behaviour,
    refused: u32,
    stalled: u32,
}

/// A running SMTP server; dropped, it stops accepting.
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    pub async fn start() -> std::io::Result<SmtpServer> {
        SmtpServer::start_on("127.0.0.1:0".parse().expect("an address")).await
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<SmtpServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = session(stream, state).await;
                });
            }
        });
        Ok(SmtpServer { addr, state, task })
    }

    /// `smtp://127.0.0.1:port`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.lock().mails.clone()
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.lock().behaviour = behaviour;
    }

    /// How many messages were refused so far.
    pub fn refused(&self) -> u32 {
        self.lock().refused
    }

    /// How many messages were read and then left unanswered.
    pub fn stalled(&self) -> u32 {
        self.lock().stalled
    }

    /// How many kept messages were in flight at `at`: received by then, and not answered, or
    /// answered less than `grace` before it (the sender may not have recorded the answer yet).
    pub fn in_flight_at(&self, at: Instant, grace: Duration) -> usize {
        self.lock()
            .times
            .iter()
            .filter(|(received, answered)| {
                *received <= at && answered.is_none_or(|a| a + grace > at)
            })
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sandbox SMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-sandbox\r\n250-8BITMIME\r\n250 SMTPUTF8".into(),
            "HELO" => "250 sandbox".into(),
            "MAIL" => {
                from = address(&command);
                to.clear();
                "250 OK".into()
            }
            "RCPT" => {
                let refusal = {
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    match s.behaviour.clone() {
                        Behaviour::Refuse { code, n } if n > 0 => {
                            s.behaviour = if n > 1 {
                                Behaviour::Refuse { code, n: n - 1 }
                            } else {
                                Behaviour::Accept
                            };
                            s.refused += 1;
                            Some(code)
                        }
                        _ => None,
                    }
                };
                match refusal {
                    Some(code) => format!("{code} refused by the sandbox on purpose"),
                    None => {
                        to.push(address(&command));
                        "250 OK".into()
                    }
                }
            }
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let (stall, delay, index) = {
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    match s.behaviour.clone() {
                        Behaviour::Stall => {
                            s.stalled += 1;
                            (true, None, 0)
                        }
                        behaviour => {
                            let delay = match behaviour {
                                Behaviour::SlowFor { recipient, delay }
                                    if to.iter().any(|t| t.contains(&recipient)) =>
                                {
                                    Some(delay)
                                }
                                _ => None,
                            };
                            s.mails.push(Mail {
                                from: from.clone(),
                                to: std::mem::take(&mut to),
                                data,
                            });
                            s.times.push((Instant::now(), None));
                            (false, delay, s.times.len() - 1)
                        }
                    }
                };
                if stall {
                    // Never answer: the client times out or is killed mid-send.
                    std::future::pending::<()>().await;
                }
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                // Answered, or the sender is gone: either way no longer in flight.
                let answered = write.write_all(b"250 OK queued\r\n").await;
                state.lock().unwrap_or_else(|p| p.into_inner()).times[index].1 =
                    Some(Instant::now());
                answered?;
                continue;
            }
            "RSET" => {
                from.clear();
                to.clear();
                "250 OK".into()
            }
            "NOOP" => "250 OK".into(),
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 command not implemented".into(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

/// The address inside `MAIL FROM:<…>` or `RCPT TO:<…>`.
fn address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_string())
        .unwrap_or_default()
}
