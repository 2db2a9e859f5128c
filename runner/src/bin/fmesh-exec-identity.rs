//! A minimal `exec` runtime program in Rust (runner/PROTOCOL.md): answers INIT with READY
//! and every MESSAGE with its payload unchanged. The reference for other languages and the
//! benchmark's exec identity.

use std::io::{self, BufReader, BufWriter, Read, Write};

const READY: u8 = 2;
const MESSAGE: u8 = 3;
const RESULT: u8 = 5;

fn read_frame(r: &mut impl Read) -> io::Result<(u8, Vec<u8>, Vec<u8>)> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut buf)?;
    if buf.len() < 5 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "short frame"));
    }
    let hlen = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    let body = buf.split_off((5 + hlen).min(buf.len()));
    let header = buf.split_off(5);
    Ok((buf[0], header, body))
}

fn write_frame(w: &mut impl Write, kind: u8, header: &[u8], body: &[u8]) -> io::Result<()> {
    let rest = (5 + header.len() + body.len()) as u32;
    w.write_all(&rest.to_be_bytes())?;
    w.write_all(&[kind])?;
    w.write_all(&(header.len() as u32).to_be_bytes())?;
    w.write_all(header)?;
    w.write_all(body)
}

fn main() -> io::Result<()> {
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    let _init = read_frame(&mut input)?;
    write_frame(&mut output, READY, b"{}", &[])?;
    output.flush()?;
    loop {
        let (kind, _header, body) = match read_frame(&mut input) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if kind == MESSAGE {
            write_frame(&mut output, RESULT, br#"{"ok":true,"output":true}"#, &body)?;
            output.flush()?;
        }
    }
}
