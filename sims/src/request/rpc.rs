//! Calls between tiers: one multiplexed TCP connection from each caller pod to each callee
//! pod (turmoil TCP, port 8000), a line per request (`<id>\n`) and per answer
//! (`<id> <outcome>\n`).
//!
//! The caller waits for an answer until its own deadline and then forgets the request; the
//! callee's handler goes on (a detached task) and its late answer is dropped. Callee pods are
//! picked round-robin. A connection that breaks fails its pending calls (`other`) and is
//! opened again by the next call.

use super::{Pod, outcome_name, spawn_handler};
use crate::adapter::PoolUnderTest;
use crate::report::ErrorKind;
use crate::scenario::Scenario;
use crate::world::RPC_PORT;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

type Pending = Rc<RefCell<BTreeMap<u64, oneshot::Sender<Result<(), ErrorKind>>>>>;

struct Conn {
    out: mpsc::UnboundedSender<u64>,
    pending: Pending,
    broken: Rc<Cell<bool>>,
}

/// A caller pod's client for the next tier.
pub(crate) struct Client {
    pods: Vec<String>,
    conns: Vec<tokio::sync::Mutex<Option<Rc<Conn>>>>,
    next: Cell<usize>,
}

impl Client {
    pub(crate) fn new(scenario: &Scenario, callee: usize) -> Self {
        let t = &scenario.tiers[callee];
        let pods: Vec<String> = (0..t.instances)
            .map(|i| format!("{}-{i}", t.name))
            .collect();
        let conns = pods.iter().map(|_| tokio::sync::Mutex::new(None)).collect();
        Self {
            pods,
            conns,
            next: Cell::new(0),
        }
    }

    async fn conn(&self, k: usize) -> Option<Rc<Conn>> {
        let mut slot = self.conns[k].lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.broken.get()) {
            return Some(Rc::clone(c));
        }
        let stream = turmoil::net::TcpStream::connect((self.pods[k].as_str(), RPC_PORT))
            .await
            .ok()?;
        let (read, mut write) = stream.into_split();
        let (out, mut rx) = mpsc::unbounded_channel::<u64>();
        let pending: Pending = Rc::default();
        let broken = Rc::new(Cell::new(false));
        let c = Rc::new(Conn {
            out,
            pending: Rc::clone(&pending),
            broken: Rc::clone(&broken),
        });
        // Writer: every request queued so far in one write.
        let broken_w = Rc::clone(&broken);
        tokio::task::spawn_local(async move {
            let mut buf = String::new();
            while let Some(id) = rx.recv().await {
                buf.clear();
                buf.push_str(&id.to_string());
                buf.push('\n');
                while let Ok(id) = rx.try_recv() {
                    buf.push_str(&id.to_string());
                    buf.push('\n');
                }
                if write.write_all(buf.as_bytes()).await.is_err() {
                    broken_w.set(true);
                    return;
                }
            }
        });
        // Reader: answers to whoever still waits.
        tokio::task::spawn_local(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Some((id, outcome)) = line.split_once(' ') else {
                    continue;
                };
                let (Ok(id), outcome) = (id.parse::<u64>(), parse_outcome(outcome)) else {
                    continue;
                };
                let waiter = pending.borrow_mut().remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(outcome);
                }
            }
            broken.set(true);
            // Dropping the senders fails every pending call.
            pending.borrow_mut().clear();
        });
        *slot = Some(Rc::clone(&c));
        Some(c)
    }

    /// Forwards request `id` to the next tier and waits for its outcome until `deadline`.
    pub(crate) async fn call(&self, id: u64, deadline: Instant) -> Result<(), ErrorKind> {
        let k = self.next.get() % self.pods.len();
        self.next.set(k + 1);
        let answer = async {
            let Some(conn) = self.conn(k).await else {
                return Err(ErrorKind::Other);
            };
            let (tx, rx) = oneshot::channel();
            conn.pending.borrow_mut().insert(id, tx);
            if conn.out.send(id).is_err() {
                conn.pending.borrow_mut().remove(&id);
                return Err(ErrorKind::Other);
            }
            let r = tokio::time::timeout_at(deadline, rx).await;
            match r {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Err(ErrorKind::Other),
                Err(_) => {
                    conn.pending.borrow_mut().remove(&id);
                    Err(ErrorKind::DeadlineExceeded)
                }
            }
        };
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(r) => r,
            Err(_) => Err(ErrorKind::DeadlineExceeded),
        }
    }
}

fn parse_outcome(s: &str) -> Result<(), ErrorKind> {
    if s == "ok" {
        Ok(())
    } else {
        Err(ErrorKind::from_name(s).unwrap_or(ErrorKind::Other))
    }
}

/// Serves the requests of the tier above until the host stops.
pub(crate) async fn serve<P: PoolUnderTest>(
    pod: Rc<Pod<P>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", RPC_PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let pod = Rc::clone(&pod);
        tokio::task::spawn_local(async move {
            let (read, mut write) = stream.into_split();
            let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Result<(), ErrorKind>)>();
            tokio::task::spawn_local(async move {
                let mut buf = String::new();
                while let Some((id, r)) = rx.recv().await {
                    buf.clear();
                    push_answer(&mut buf, id, r);
                    while let Ok((id, r)) = rx.try_recv() {
                        push_answer(&mut buf, id, r);
                    }
                    if write.write_all(buf.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(id) = line.trim().parse::<u64>() else {
                    continue;
                };
                let tx = tx.clone();
                spawn_handler(Rc::clone(&pod), id, None, move |r| {
                    let _ = tx.send((id, r));
                });
            }
        });
    }
}

fn push_answer(buf: &mut String, id: u64, r: Result<(), ErrorKind>) {
    buf.push_str(&id.to_string());
    buf.push(' ');
    buf.push_str(outcome_name(r));
    buf.push('\n');
}
