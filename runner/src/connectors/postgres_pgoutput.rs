//! Postgres' `pgoutput` logical decoding messages (protocol version 1), as
//! `pg_logical_slot_peek_binary_changes` returns them, decoded into whole transactions and
//! turned into Debezium-shaped change events. Pure: bytes in, values out.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use thiserror::Error;

/// A message the decoder could not read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The message ended before a field did.
    #[error("pgoutput message `{tag}` truncated at byte {at}")]
    Truncated { tag: char, at: usize },
    /// A tag this decoder does not know.
    #[error("unknown pgoutput message tag {0:#04x}")]
    UnknownTag(u8),
    /// A change for a relation whose `R` message never came.
    #[error("change for relation {0} without its relation message")]
    UnknownRelation(u32),
    /// A change outside BEGIN … COMMIT.
    #[error("pgoutput `{0}` outside a transaction")]
    OutsideTransaction(char),
}

/// One column of a relation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// Type OID (`pg_type.oid`).
    pub type_oid: u32,
    /// Part of the replica identity (the primary key, by default).
    pub key: bool,
}

/// A table as the `R` message describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub table: String,
    pub columns: Vec<Column>,
}

/// One column value of a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datum {
    Null,
    /// A TOASTed value that did not change (not sent).
    Unchanged,
    /// The value in Postgres' text output form.
    Text(String),
}

/// A row change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Insert {
        rel: u32,
        new: Vec<Datum>,
    },
    /// `old` is sent when the key changed (key columns only, `key_only`) or under REPLICA
    /// IDENTITY FULL (the whole old row).
    Update {
        rel: u32,
        old: Option<Vec<Datum>>,
        key_only: bool,
        new: Vec<Datum>,
    },
    Delete {
        rel: u32,
        old: Vec<Datum>,
        key_only: bool,
    },
}

/// A committed transaction and its changes, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub xid: u32,
    /// LSN of the commit record.
    pub commit_lsn: u64,
    /// LSN just past the commit record: where a slot is advanced once this is delivered.
    pub end_lsn: u64,
    /// Commit time, ms since the Unix epoch.
    pub commit_ms: i64,
    pub changes: Vec<Change>,
}

/// Microseconds from the Unix epoch to Postgres' epoch (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// Feeds pgoutput messages in order; hands back each transaction at its COMMIT. Relations
/// are remembered across calls (Postgres resends them whenever decoding restarts).
#[derive(Debug, Default)]
pub struct Decoder {
    relations: HashMap<u32, Relation>,
    open: Option<Transaction>,
}

impl Decoder {
    /// The relation with this OID, once its `R` message was seen.
    pub fn relation(&self, oid: u32) -> Option<&Relation> {
        self.relations.get(&oid)
    }

    /// Decodes one message; returns the transaction it completes, if it is a COMMIT.
    pub fn feed(&mut self, msg: &[u8]) -> Result<Option<Transaction>, DecodeError> {
        let Some((&tag, body)) = msg.split_first() else {
            return Err(DecodeError::Truncated { tag: '?', at: 0 });
        };
        let mut r = Reader {
            buf: body,
            at: 0,
            tag: tag as char,
        };
        match tag {
            b'B' => {
                let _final_lsn = r.u64()?;
                let ts = r.i64()?;
                let xid = r.u32()?;
                self.open = Some(Transaction {
                    xid,
                    commit_lsn: 0,
                    end_lsn: 0,
                    commit_ms: (ts + PG_EPOCH_US) / 1000,
                    changes: Vec::new(),
                });
            }
            b'C' => {
                let _flags = r.u8()?;
                let commit_lsn = r.u64()?;
                let end_lsn = r.u64()?;
                let ts = r.i64()?;
                let mut tx = self
                    .open
                    .take()
                    .ok_or(DecodeError::OutsideTransaction('C'))?;
                tx.commit_lsn = commit_lsn;
                tx.end_lsn = end_lsn;
                tx.commit_ms = (ts + PG_EPOCH_US) / 1000;
                return Ok(Some(tx));
            }
            b'R' => {
                let oid = r.u32()?;
                let schema = r.cstr()?;
                let table = r.cstr()?;
                let _identity = r.u8()?;
                let n = r.i16()?;
                let mut columns = Vec::with_capacity(n.max(0) as usize);
                for _ in 0..n {
                    let flags = r.u8()?;
                    let name = r.cstr()?;
                    let type_oid = r.u32()?;
                    let _typmod = r.i32()?;
                    columns.push(Column {
                        name,
                        type_oid,
                        key: flags & 1 == 1,
                    });
                }
                self.relations.insert(
                    oid,
                    Relation {
                        schema,
                        table,
                        columns,
                    },
                );
            }
            b'I' => {
                let rel = self.known(r.u32()?)?;
                let _n = r.u8()?;
                let new = r.tuple()?;
                self.push('I', Change::Insert { rel, new })?;
            }
            b'U' => {
                let rel = self.known(r.u32()?)?;
                let mut old = None;
                let mut kind = r.u8()?;
                let key_only = kind == b'K';
                if kind == b'K' || kind == b'O' {
                    old = Some(r.tuple()?);
                    kind = r.u8()?;
                }
                if kind != b'N' {
                    return Err(DecodeError::Truncated { tag: 'U', at: r.at });
                }
                let new = r.tuple()?;
                self.push(
                    'U',
                    Change::Update {
                        rel,
                        old,
                        key_only,
                        new,
                    },
                )?;
            }
            b'D' => {
                let rel = self.known(r.u32()?)?;
                let key_only = r.u8()? == b'K';
                let old = r.tuple()?;
                self.push('D', Change::Delete { rel, old, key_only })?;
            }
            // Type, origin, truncate and logical messages carry no row changes to emit.
            b'Y' | b'O' | b'T' | b'M' => {}
            other => return Err(DecodeError::UnknownTag(other)),
        }
        Ok(None)
    }

    fn known(&self, oid: u32) -> Result<u32, DecodeError> {
        if self.relations.contains_key(&oid) {
            Ok(oid)
        } else {
            Err(DecodeError::UnknownRelation(oid))
        }
    }

    fn push(&mut self, tag: char, change: Change) -> Result<(), DecodeError> {
        let tx = self
            .open
            .as_mut()
            .ok_or(DecodeError::OutsideTransaction(tag))?;
        tx.changes.push(change);
        Ok(())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    tag: char,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or(DecodeError::Truncated {
            tag: self.tag,
            at: self.at,
        })?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn cstr(&mut self) -> Result<String, DecodeError> {
        let rest = &self.buf[self.at..];
        let len = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or(DecodeError::Truncated {
                tag: self.tag,
                at: self.buf.len(),
            })?;
        let s = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.at += len + 1;
        Ok(s)
    }
    fn tuple(&mut self) -> Result<Vec<Datum>, DecodeError> {
        let n = self.i16()?;
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for _ in 0..n {
            out.push(match self.u8()? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' => {
                    let len = self.i32()?;
                    let len = usize::try_from(len).map_err(|_| DecodeError::Truncated {
                        tag: self.tag,
                        at: self.at,
                    })?;
                    Datum::Text(String::from_utf8_lossy(self.take(len)?).into_owned())
                }
                _ => {
                    return Err(DecodeError::Truncated {
                        tag: self.tag,
                        at: self.at,
                    });
                }
            });
        }
        Ok(out)
    }
}

/// `0/1505C90`, Postgres' text form of an LSN.
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// An LSN from its text form (`0/1505C90`).
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// A column value as JSON: numbers and booleans typed, json/jsonb parsed, the rest as text
/// (numeric stays text so no digit is lost, as Debezium's string decimal mode does).
fn typed(type_oid: u32, text: &str) -> Value {
    const BOOL: u32 = 16;
    const INT8: u32 = 20;
    const INT2: u32 = 21;
    const INT4: u32 = 23;
    const OID: u32 = 26;
    const JSON: u32 = 114;
    const FLOAT4: u32 = 700;
    const FLOAT8: u32 = 701;
    const JSONB: u32 = 3802;
    let parsed = match type_oid {
        BOOL => Some(Value::Bool(text == "t")),
        INT2 | INT4 | INT8 | OID => text.parse::<i64>().ok().map(Value::from),
        FLOAT4 | FLOAT8 => text
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)),
        JSON | JSONB => serde_json::from_str(text).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

/// A row image: column name → value. Unchanged TOAST values are left out (not known here).
fn image(rel: &Relation, tuple: &[Datum], keys_only: bool) -> Value {
    let mut row = Map::new();
    for (col, datum) in rel.columns.iter().zip(tuple) {
        if keys_only && !col.key {
            continue;
        }
        match datum {
            Datum::Null => {
                // A key-only old tuple sends nulls for the other columns: they are unknown.
                if !keys_only {
                    row.insert(col.name.clone(), Value::Null);
                }
            }
            Datum::Unchanged => {}
            Datum::Text(t) => {
                row.insert(col.name.clone(), typed(col.type_oid, t));
            }
        }
    }
    Value::Object(row)
}

/// Where an event comes from, for its `source` block.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    /// The Source's name.
    pub name: &'a str,
    pub database: &'a str,
}

/// One change event: its key (the primary key columns as compact JSON) and its payload
/// (`before`, `after`, `source` with `lsn`, `op` c/u/d, `ts_ms`), Debezium's envelope.
pub fn event(
    decoder: &Decoder,
    tx: &Transaction,
    change: &Change,
    origin: &Origin<'_>,
    now_ms: i64,
) -> Result<(String, Value), DecodeError> {
    let (rel, op, before, key_only, after, key_tuple) = match change {
        Change::Insert { rel, new } => (*rel, "c", None, false, Some(new), new),
        Change::Update {
            rel,
            old,
            key_only,
            new,
        } => (*rel, "u", old.as_ref(), *key_only, Some(new), new),
        Change::Delete { rel, old, key_only } => (*rel, "d", Some(old), *key_only, None, old),
    };
    let relation = decoder
        .relation(rel)
        .ok_or(DecodeError::UnknownRelation(rel))?;
    let key = image(relation, key_tuple, true);
    let payload = json!({
        "before": before.map(|t| image(relation, t, key_only)),
        "after": after.map(|t| image(relation, t, false)),
        "source": {
            "connector": "postgresql",
            "name": origin.name,
            "db": origin.database,
            "schema": relation.schema,
            "table": relation.table,
            "txId": tx.xid,
            "lsn": tx.commit_lsn,
            "ts_ms": tx.commit_ms,
        },
        "op": op,
        "ts_ms": now_ms,
    });
    Ok((key.to_string(), payload))
}

/// A snapshot read event (`op: "r"`): `row` as the slot's snapshot saw it, in Debezium's
/// envelope with `source.snapshot: "true"` and the slot's consistent point as `source.lsn`.
pub fn read_event(
    relation: &Relation,
    row: &[Datum],
    origin: &Origin<'_>,
    lsn: u64,
    now_ms: i64,
) -> (String, Value) {
    let key = image(relation, row, true);
    let payload = json!({
        "before": null,
        "after": image(relation, row, false),
        "source": {
            "connector": "postgresql",
            "name": origin.name,
            "db": origin.database,
            "schema": relation.schema,
            "table": relation.table,
            "txId": null,
            "lsn": lsn,
            "ts_ms": now_ms,
            "snapshot": "true",
        },
        "op": "r",
        "ts_ms": now_ms,
    });
    (key.to_string(), payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be16(v: i16) -> [u8; 2] {
        v.to_be_bytes()
    }

    fn relation_msg() -> Vec<u8> {
        let mut m = vec![b'R'];
        m.extend(16384u32.to_be_bytes());
        m.extend(b"public\0orders\0d");
        m.extend(be16(3));
        for (flags, name, oid) in [(1u8, "id", 23u32), (0, "item", 25), (0, "meta", 3802)] {
            m.push(flags);
            m.extend(name.as_bytes());
            m.push(0);
            m.extend(oid.to_be_bytes());
            m.extend((-1i32).to_be_bytes());
        }
        m
    }

    fn tuple(vals: &[Option<&str>]) -> Vec<u8> {
        let mut m = be16(vals.len() as i16).to_vec();
        for v in vals {
            match v {
                None => m.push(b'n'),
                Some(s) => {
                    m.push(b't');
                    m.extend((s.len() as i32).to_be_bytes());
                    m.extend(s.as_bytes());
                }
            }
        }
        m
    }

    fn begin(xid: u32) -> Vec<u8> {
        let mut m = vec![b'B'];
        m.extend(100u64.to_be_bytes());
        m.extend(0i64.to_be_bytes());
        m.extend(xid.to_be_bytes());
        m
    }

    fn commit(lsn: u64) -> Vec<u8> {
        let mut m = vec![b'C', 0];
        m.extend(lsn.to_be_bytes());
        m.extend((lsn + 48).to_be_bytes());
        m.extend(1_000_000i64.to_be_bytes());
        m
    }

    #[test]
    fn a_transaction_decodes_into_debezium_events() {
        let mut d = Decoder::default();
        assert_eq!(d.feed(&begin(7)).unwrap(), None);
        d.feed(&relation_msg()).unwrap();
        let mut ins = vec![b'I'];
        ins.extend(16384u32.to_be_bytes());
        ins.push(b'N');
        ins.extend(tuple(&[Some("1"), Some("apple"), Some(r#"{"a": 1}"#)]));
        d.feed(&ins).unwrap();
        let mut del = vec![b'D'];
        del.extend(16384u32.to_be_bytes());
        del.push(b'K');
        del.extend(tuple(&[Some("1"), None, None]));
        d.feed(&del).unwrap();
        let tx = d.feed(&commit(0x1505DC8)).unwrap().expect("commit ends it");
        assert_eq!(
            (tx.xid, tx.commit_lsn, tx.end_lsn, tx.changes.len()),
            (7, 0x1505DC8, 0x1505DC8 + 48, 2)
        );
        assert_eq!(tx.commit_ms, 946_684_800_000 + 1000);
        let origin = Origin {
            name: "cdc",
            database: "shop",
        };
        let (key, ev) = event(&d, &tx, &tx.changes[0], &origin, 5).unwrap();
        assert_eq!(key, r#"{"id":1}"#);
        assert_eq!(ev["op"], "c");
        assert_eq!(ev["before"], Value::Null);
        assert_eq!(
            ev["after"],
            json!({"id": 1, "item": "apple", "meta": {"a": 1}})
        );
        assert_eq!(ev["source"]["lsn"], 0x1505DC8u64);
        assert_eq!(ev["source"]["table"], "orders");
        let (key, ev) = event(&d, &tx, &tx.changes[1], &origin, 5).unwrap();
        assert_eq!(key, r#"{"id":1}"#);
        assert_eq!(
            (ev["op"].as_str(), &ev["before"], &ev["after"]),
            (Some("d"), &json!({"id": 1}), &Value::Null)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = Decoder::default();
        assert_eq!(
            d.feed(b"Bxx"),
            Err(DecodeError::Truncated { tag: 'B', at: 0 })
        );
        assert_eq!(d.feed(b"Z"), Err(DecodeError::UnknownTag(b'Z')));
        let mut ins = vec![b'I'];
        ins.extend(9u32.to_be_bytes());
        assert_eq!(d.feed(&ins), Err(DecodeError::UnknownRelation(9)));
        assert!(d.feed(&relation_msg()[..10]).is_err());
        assert_eq!(
            d.feed(&commit(1)),
            Err(DecodeError::OutsideTransaction('C'))
        );
    }

    #[test]
    fn snapshot_rows_become_read_events() {
        let rel = Relation {
            schema: "public".into(),
            table: "orders".into(),
            columns: vec![
                Column {
                    name: "id".into(),
                    type_oid: 23,
                    key: true,
                },
                Column {
                    name: "item".into(),
                    type_oid: 25,
                    key: false,
                },
            ],
        };
        let origin = Origin {
            name: "cdc",
            database: "db",
        };
        let row = [Datum::Text("7".into()), Datum::Null];
        let (key, ev) = read_event(&rel, &row, &origin, parse_lsn("0/16B3748").unwrap(), 5);
        assert_eq!(key, r#"{"id":7}"#);
        assert_eq!(ev["op"], "r");
        assert_eq!(ev["before"], Value::Null);
        assert_eq!(ev["after"], json!({"id": 7, "item": null}));
        assert_eq!(ev["source"]["lsn"], json!(0x16B3748u64));
        assert_eq!(ev["source"]["snapshot"], "true");
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("nope"), None);
    }

    #[test]
    fn values_are_typed_and_lsns_print_as_postgres_does() {
        assert_eq!(typed(16, "t"), json!(true));
        assert_eq!(typed(20, "-42"), json!(-42));
        assert_eq!(typed(701, "1.5"), json!(1.5));
        assert_eq!(typed(1700, "1.50"), json!("1.50"));
        assert_eq!(typed(3802, "not json"), json!("not json"));
        assert_eq!(lsn_text(0x1_0150_5C90), "1/1505C90");
    }
}
