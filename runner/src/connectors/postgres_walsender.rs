//! A replication-protocol session (`replication=database`), which tokio-postgres cannot open,
//! for the one command that needs it: `CREATE_REPLICATION_SLOT … EXPORT_SNAPSHOT`. The
//! exported snapshot lives as long as this session stays open and idle, so postgres-cdc keeps
//! it open while it reads the tables (postgres_cdc.rs). Messages are framed here; building
//! them and password hashing (md5, SCRAM-SHA-256) come from postgres-protocol.

use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::postgres::Target;

/// As tokio-postgres' connect timeout in `Target::connect`.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the session failed.
#[derive(Debug, thiserror::Error)]
pub enum WalsenderError {
    #[error("replication connection to {0}: {1}")]
    Io(String, std::io::Error),
    /// The server answered with an error.
    #[error("postgres: {0}")]
    Server(String),
    /// An answer this client does not expect.
    #[error("replication protocol: {0}")]
    Protocol(String),
}

/// A replication slot created with an exported snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedSlot {
    /// `consistent_point`: the slot streams the transactions that commit after it.
    pub lsn: String,
    /// The snapshot's name, for `SET TRANSACTION SNAPSHOT`.
    pub snapshot: String,
}

/// An open walsender session.
pub struct Walsender {
    stream: TcpStream,
    buf: BytesMut,
    peer: String,
}

impl Walsender {
    /// Opens a session as the target's user (trust, password, md5 or SCRAM-SHA-256).
    pub async fn connect(target: &Target, application: &str) -> Result<Walsender, WalsenderError> {
        let peer = format!("{}:{}", target.host, target.port);
        let io = |e| WalsenderError::Io(peer.clone(), e);
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&peer))
            .await
            .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
            .map_err(io)?;
        let mut s = Walsender {
            stream,
            buf: BytesMut::new(),
            peer: peer.clone(),
        };
        let mut out = BytesMut::new();
        frontend::startup_message(
            [
                ("user", target.user.as_str()),
                ("database", target.database.as_str()),
                ("replication", "database"),
                ("application_name", application),
            ],
            &mut out,
        )
        .map_err(io)?;
        s.send(&out).await?;
        s.authenticate(target).await?;
        // ParameterStatus, BackendKeyData… until ReadyForQuery.
        while s.read().await?.0 != b'Z' {}
        Ok(s)
    }

    async fn authenticate(&mut self, target: &Target) -> Result<(), WalsenderError> {
        let password = || {
            target.password.clone().ok_or_else(|| {
                WalsenderError::Server(
                    "the server asks for a password: set secretsMap.password".into(),
                )
            })
        };
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            let (tag, mut body) = self.read().await?;
            if tag != b'R' {
                return Err(WalsenderError::Protocol(format!(
                    "expected authentication, got `{}`",
                    tag as char
                )));
            }
            let mut out = BytesMut::new();
            match body.get_i32() {
                0 => return Ok(()),
                3 => frontend::password_message(password()?.as_bytes(), &mut out)
                    .map_err(|e| self.io(e))?,
                5 => {
                    let salt = [body[0], body[1], body[2], body[3]];
                    let hash = md5_hash(target.user.as_bytes(), password()?.as_bytes(), salt);
                    frontend::password_message(hash.as_bytes(), &mut out)
                        .map_err(|e| self.io(e))?;
                }
                10 => {
                    let mechanisms = String::from_utf8_lossy(&body).into_owned();
                    if !mechanisms.split('\0').any(|m| m == sasl::SCRAM_SHA_256) {
                        return Err(WalsenderError::Protocol(format!(
                            "no supported SASL mechanism in {mechanisms:?}"
                        )));
                    }
                    let s = sasl::ScramSha256::new(
                        password()?.as_bytes(),
                        sasl::ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response(sasl::SCRAM_SHA_256, s.message(), &mut out)
                        .map_err(|e| self.io(e))?;
                    scram = Some(s);
                }
                11 => {
                    let s = scram.as_mut().ok_or_else(sasl_order)?;
                    s.update(&body)
                        .map_err(|e| WalsenderError::Server(format!("SCRAM: {e}")))?;
                    frontend::sasl_response(s.message(), &mut out).map_err(|e| self.io(e))?;
                }
                12 => {
                    // The server's proof; AuthenticationOk follows.
                    let s = scram.as_mut().ok_or_else(sasl_order)?;
                    s.finish(&body)
                        .map_err(|e| WalsenderError::Server(format!("SCRAM: {e}")))?;
                    continue;
                }
                code => {
                    return Err(WalsenderError::Protocol(format!(
                        "authentication method {code} is not supported"
                    )));
                }
            }
            self.send(&out).await?;
        }
    }

    /// `CREATE_REPLICATION_SLOT "slot" TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT`: a slot
    /// that disappears with this session, and the snapshot it was created at.
    pub async fn create_temporary_slot(
        &mut self,
        slot: &str,
    ) -> Result<ExportedSlot, WalsenderError> {
        let sql = format!(
            "CREATE_REPLICATION_SLOT {} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT",
            super::postgres::quote_ident(slot)
        );
        let mut out = BytesMut::new();
        frontend::query(&sql, &mut out).map_err(|e| self.io(e))?;
        self.send(&out).await?;
        let mut row = None;
        loop {
            let (tag, body) = self.read().await?;
            match tag {
                b'D' => row = Some(data_row(&body)?),
                b'Z' => break,
                _ => {}
            }
        }
        // slot_name, consistent_point, snapshot_name, output_plugin
        match row.as_deref() {
            Some([_, Some(lsn), Some(snapshot), ..]) => Ok(ExportedSlot {
                lsn: lsn.clone(),
                snapshot: snapshot.clone(),
            }),
            other => Err(WalsenderError::Protocol(format!(
                "CREATE_REPLICATION_SLOT answered {other:?}"
            ))),
        }
    }

    /// Ends the session (its temporary slot and exported snapshot go with it).
    pub async fn close(mut self) {
        let mut out = BytesMut::new();
        frontend::terminate(&mut out);
        let _ = self.stream.write_all(&out).await;
    }

    fn io(&self, e: std::io::Error) -> WalsenderError {
        WalsenderError::Io(self.peer.clone(), e)
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), WalsenderError> {
        self.stream.write_all(bytes).await.map_err(|e| self.io(e))
    }

    /// The next message as (tag, body); an ErrorResponse becomes an error, notices are skipped.
    async fn read(&mut self) -> Result<(u8, BytesMut), WalsenderError> {
        loop {
            while self.buf.len() < 5 || self.buf.len() < 1 + frame_len(&self.buf) {
                let n = self
                    .stream
                    .read_buf(&mut self.buf)
                    .await
                    .map_err(|e| self.io(e))?;
                if n == 0 {
                    return Err(WalsenderError::Protocol(
                        "the server closed the connection".into(),
                    ));
                }
            }
            let len = frame_len(&self.buf);
            let mut frame = self.buf.split_to(1 + len);
            let tag = frame[0];
            frame.advance(5);
            match tag {
                b'E' => return Err(WalsenderError::Server(error_text(&frame))),
                b'N' => continue,
                _ => return Ok((tag, frame)),
            }
        }
    }
}

fn sasl_order() -> WalsenderError {
    WalsenderError::Protocol("SASL step before SASL start".into())
}

/// The length field of the frame at the start of `buf` (it counts itself, not the tag).
fn frame_len(buf: &[u8]) -> usize {
    u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize
}

/// An ErrorResponse's severity, message and detail, as one line.
fn error_text(body: &[u8]) -> String {
    let mut parts = Vec::new();
    for field in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let (kind, text) = (field[0], String::from_utf8_lossy(&field[1..]));
        match kind {
            b'S' | b'M' => parts.push(text.into_owned()),
            b'D' => parts.push(format!("({text})")),
            _ => {}
        }
    }
    parts.join(" ")
}

/// A DataRow's columns as text (None: NULL).
fn data_row(body: &[u8]) -> Result<Vec<Option<String>>, WalsenderError> {
    let short = || WalsenderError::Protocol("truncated DataRow".into());
    let mut b = body;
    if b.len() < 2 {
        return Err(short());
    }
    let n = b.get_i16();
    let mut cols = Vec::new();
    for _ in 0..n {
        if b.len() < 4 {
            return Err(short());
        }
        let len = b.get_i32();
        if len < 0 {
            cols.push(None);
            continue;
        }
        let len = len as usize;
        if b.len() < len {
            return Err(short());
        }
        cols.push(Some(String::from_utf8_lossy(&b[..len]).into_owned()));
        b.advance(len);
    }
    Ok(cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_rows_and_errors_decode() {
        let mut row = vec![0, 3];
        for col in [Some("fmesh_x"), None, Some("0/16B3748")] {
            match col {
                Some(t) => {
                    row.extend((t.len() as i32).to_be_bytes());
                    row.extend(t.as_bytes());
                }
                None => row.extend((-1i32).to_be_bytes()),
            }
        }
        assert_eq!(
            data_row(&row).unwrap(),
            [
                Some("fmesh_x".to_string()),
                None,
                Some("0/16B3748".to_string())
            ]
        );
        assert!(data_row(&row[..row.len() - 1]).is_err());
        let err = b"SERROR\0C42710\0Mreplication slot \"x\" already exists\0\0";
        assert_eq!(
            error_text(err),
            "ERROR replication slot \"x\" already exists"
        );
    }
}
